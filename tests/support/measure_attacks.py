"""Issue 17's attacks on the inference server, each against a fresh server on the tiny Zoo model:
the answer and the server's peak RSS (VmHWM), then the worst allowed request and the attack mix.
Prints the README's table (docs/design.md has the limits' arithmetic).

    .venv/bin/python -m tests.support.measure_attacks                  # this tree's server
    .venv/bin/python -m tests.support.measure_attacks --source DIR     # DIR/inference_server instead, e.g.
        # mkdir /tmp/old && git archive main inference_server | tar -x -C /tmp/old

The servers run under a 6 GiB data limit (RLIMIT_DATA, inherited): an old server meets a
MemoryError there instead of taking the shared machine's memory (the issue measured 9 GB).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import selectors
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
from PIL import Image
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from .server_process import TEST_MODEL_NAME as MODEL
from .server_process import ServerProcess
from .zoo_model import build_zoo_savedmodel

DATA_LIMIT = 6 * 1024 ** 3
PNG = {"content-type": "image/png"}
DETECT = f"/v1/models/{MODEL}:detect"


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 40)).save(out, format="PNG")
    return out.getvalue()


def peak_mib(server: ServerProcess) -> int:
    """VmHWM, or -1 once the process is gone."""
    try:
        status = Path(f"/proc/{server.proc.pid}/status").read_text()
    except FileNotFoundError:
        return -1
    return next((int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmHWM:")), -1)


class PeakWatch:
    """The highest VmHWM seen while an attack runs: a server that dies still has its figure."""

    def __init__(self, server: ServerProcess) -> None:
        self.server, self.peak, self._stop = server, peak_mib(server), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, peak_mib(self.server))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, peak_mib(self.server))


def short(text: str) -> str:
    return " ".join(text.split())[:90].replace("|", "/")


def http_answer(response: httpx.Response) -> str:
    return f"{response.status_code} {short(response.text)}" if response.status_code != 200 else \
        f"200 ({len(response.content)} bytes)"


def grpc_answer(call: Callable[[], object]) -> str:
    try:
        answer = call()
    except grpc.RpcError as exc:
        return f"{exc.code().name} {short(exc.details() or '')}"
    return f"OK ({answer.ByteSize()} bytes)"  # type: ignore[attr-defined]


def fill(shape: list[int], dtype: int) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]))
    (proto.float_val if dtype == types_pb2.DT_FLOAT else proto.int_val).append(0)
    request.inputs["input_tensor"].CopyFrom(proto)
    return request


def tfs_fill(server: ServerProcess, dtype: int) -> str:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return grpc_answer(lambda: stub.Predict(fill([1, 20000, 20000, 3], dtype), timeout=300))


def oip_raw(server: ServerProcess) -> str:
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="input_tensor", datatype="UINT8", shape=[300000, 1, 1, 3])
    request.raw_input_contents.append(bytes(900000))
    with grpc.insecure_channel(server.grpc_target, options=[("grpc.max_receive_message_length", -1)]) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return grpc_answer(lambda: stub.ModelInfer(request, timeout=300))


def binary_rest(server: ServerProcess, count: int) -> str:
    header = (b'{"inputs":[{"name":"input_tensor","datatype":"UINT8","shape":[%d,1,1,3],'
              b'"parameters":{"binary_data_size":%d}}]}' % (count, 3 * count))
    body = header + bytes(3 * count)
    return http_answer(httpx.post(f"{server.url}/v2/models/{MODEL}/infer", content=body, timeout=300,
                                  headers={"inference-header-content-length": str(len(header))}))


def json_many(server: ServerProcess) -> str:
    body = {"inputs": [{"name": "input_tensor", "datatype": "UINT8", "shape": [3000, 1, 1, 3], "data": [0] * 9000}]}
    return http_answer(httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=body, timeout=300))


def detect(server: ServerProcess, side: int, copies: int = 1) -> str:
    body = png(side, side)
    answers: list[str] = []

    def one() -> None:
        try:
            answers.append(http_answer(httpx.post(server.url + DETECT, content=body, headers=PNG, timeout=300)))
        except httpx.HTTPError as exc:
            answers.append(f"{type(exc).__name__}")

    threads = [threading.Thread(target=one) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers[0] if copies == 1 else "; ".join(sorted({a.split(" (")[0][:60] for a in answers})) + \
        f" ({', '.join(sorted(a.split()[0] for a in answers))})"


def slow_loris(server: ServerProcess, wait: float = 35.0) -> str:
    """25 connections stop inside their headers, 25 inside their bodies: when is each closed?"""
    host, port = server.url.removeprefix("http://").split(":")
    head = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nhost: x\r\n".encode()
    sockets = []
    for i in range(50):
        s = socket.create_connection((host, int(port)), timeout=wait)
        s.sendall(head + b"content-ty" if i % 2 else head + b"content-length: 1000\r\n\r\n{")
        sockets.append((s, "body" if i % 2 == 0 else "headers"))
    started = time.monotonic()
    closed: dict[str, list[float]] = {"headers": [], "body": []}
    with selectors.DefaultSelector() as waiting:
        for s, phase in sockets:
            s.setblocking(False)
            waiting.register(s, selectors.EVENT_READ, phase)
        while waiting.get_map() and time.monotonic() < started + wait:
            for key, _ in waiting.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except ConnectionError:
                    data = b""
                if not data:  # closed by the server: when
                    closed[key.data].append(time.monotonic() - started)
                    waiting.unregister(key.fileobj)
        still_open = len(waiting.get_map())
    for s, _ in sockets:
        s.close()
    if still_open:
        return f"{still_open} of 50 still open after {wait:g} s"
    return (f"all closed (408): half-sent headers by {max(closed['headers']):.1f} s, "
            f"half-sent bodies by {max(closed['body']):.1f} s")


def invented_methods(server: ServerProcess) -> str:
    host, port = server.url.removeprefix("http://").split(":")
    for i in range(3000):
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(f"M{i} /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
            while s.recv(4096):
                pass
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return f"{sum(line.startswith('detector_requests_total{') for line in text.splitlines())} series"


def page_headers(server: ServerProcess) -> str:
    headers = httpx.get(server.url + "/", timeout=30).headers
    present = [h for h in ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")
               if h in headers]
    docs = httpx.get(server.url + "/docs", timeout=30)
    cdn = "cdn.jsdelivr.net" in docs.text
    return f"headers: {', '.join(present) or 'none'}; /docs {docs.status_code}{' from a CDN' if cdn else ''}"


ATTACKS: list[tuple[str, Callable[[ServerProcess], str]]] = [
    ("TF Serving gRPC `int_val=[0]` shape [1,20000,20000,3] (51 bytes)", lambda s: tfs_fill(s, types_pb2.DT_UINT8)),
    ("the same shorthand as DT_FLOAT", lambda s: tfs_fill(s, types_pb2.DT_FLOAT)),
    ("OIP gRPC raw [300000,1,1,3] (900 KB)", oip_raw),
    ("binary REST [50000,1,1,3] (150 KB)", lambda s: binary_rest(s, 50000)),
    ("v2 JSON [3000,1,1,3] (9 KB)", json_many),
    (":detect 6320x6320 PNG (~40 KB)", lambda s: detect(s, 6320)),
    ("4 concurrent :detect 6320x6320 PNG", lambda s: detect(s, 6320, 4)),
    ("50 half-sent requests (headers or body)", slow_loris),
    ("3000 invented HTTP methods, then /metrics", invented_methods),
    ("GET / and /docs", page_headers),
]
ALLOWED: list[tuple[str, Callable[[ServerProcess], str]]] = [
    ("worst allowed: :detect 4096x4096 PNG", lambda s: detect(s, 4096)),
    ("8 concurrent :detect 4096x4096 PNG", lambda s: detect(s, 4096, 8)),
]


def attack_mix(server: ServerProcess) -> str:
    """Every attack at once on one server."""
    answers: dict[str, str] = {}

    def run(name: str, attack: Callable[[ServerProcess], str]) -> None:
        try:
            answers[name] = attack(server)
        except Exception as exc:  # noqa: BLE001 - an attack that kills the connection is an answer too
            answers[name] = f"{type(exc).__name__}: {short(str(exc))}"

    threads = [threading.Thread(target=run, args=item) for item in ATTACKS + ALLOWED]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = "server alive" if server.proc.poll() is None else f"server exited {server.proc.returncode}"
    failed = sorted(name for name, answer in answers.items()
                    if answer.startswith(("5", "INTERNAL", "UNAVAILABLE")) or "Error" in answer.split(" ")[0])
    return f"{alive}; 5xx/INTERNAL or broken connections: {', '.join(failed) or 'none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, help="a directory holding another inference_server package")
    parser.add_argument("--only", default="", help="run the attacks whose name contains this text")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))
    work = Path(tempfile.mkdtemp(prefix="measure-attacks-"))
    model = build_zoo_savedmodel(work / "saved_model")
    env = None
    if args.source:  # `python -m` puts its working directory first on the path: the old tree wins
        env = {"PYTHONPATH": str(args.source.resolve())}
        os.chdir(args.source)
    print("| attack | answer | peak RSS MiB |\n| --- | --- | --- |")
    for name, attack in [*ATTACKS, *ALLOWED, ("attack mix: all of the above at once", attack_mix)]:
        if args.only not in name:
            continue
        server = ServerProcess(model.as_uri(), "--model-name", MODEL, env=env, log_dir=work)
        try:
            server.wait_ready(timeout=120)
            idle = peak_mib(server)
            watch = PeakWatch(server)
            try:
                answer = attack(server)
            except Exception as exc:  # noqa: BLE001 - whatever it raises is the attack's answer, in the table
                answer = f"{type(exc).__name__}: {short(str(exc))}"
            peak = watch.stop()
            died = "" if server.proc.poll() is None else f"; server exited {server.proc.returncode}"
            print(f"| {name} | {answer}{died} | {peak} (idle {idle}) |", flush=True)
        finally:
            server.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
