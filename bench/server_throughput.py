"""Server throughput: this project's inference server against raw TensorFlow and KServe.

    .venv/bin/python bench/server_throughput.py            # full run (about 10 minutes)
    .venv/bin/python bench/server_throughput.py --quick    # smoke run (about 2 minutes)

In one run, on one SavedModel (the tiny Zoo-signature model from tests/support/zoo_model.py
unless --model DIR) and one deterministic image per size:
  (a) floor:  the serving signature called in-process at batch 1, 8, 32 (bench/server_raw.py)
  (b) server: `python -m inference_server`, every API of bench/server_apis.py: TF Serving
              `:predict` (JSON lists), `:detect` (JPEG), OIP v2 infer with binary tensors, gRPC
              OIP ModelInfer (raw contents) and gRPC TF Serving Predict (a TensorProto)
  (c) kserve: KServe 0.21's Python model server with a minimal custom model
              (bench/server_kserve_model.py, in .venv-kserve, created here if missing) under the
              same load on what it speaks: `:predict`, binary v2 infer and gRPC ModelInfer
The load comes from a separate process (bench/server_load.py) at concurrency 1, 8 and 32.
Throughput figures are medians over --reps runs; latency percentiles pool every run's requests.
The floor is measured before and after the servers and averaged (the machine's load drifts).
`--profile` samples the server with py-spy under each API's load and says where the time goes.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from localprocs import REPO, free_port

ROOT = REPO
BENCH = ROOT / "bench"
PY = ROOT / ".venv" / "bin" / "python"
KSERVE_VENV = ROOT / ".venv-kserve"
KSERVE_PY = KSERVE_VENV / "bin" / "python"
KSERVE_PINS = ["kserve==0.21.0", "tensorflow-cpu==2.21.0"]
MODEL_NAME = "tiny"
HOST = "127.0.0.1"

sys.path.insert(0, str(BENCH))
from server_apis import APIS, Body, write_bodies  # noqa: E402
from server_payloads import scene  # noqa: E402
from server_profile import record, summary  # noqa: E402
from server_report import Row, report  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ensure_kserve_venv() -> None:
    if KSERVE_PY.exists() and subprocess.run([KSERVE_PY, "-c", "import kserve"], capture_output=True).returncode == 0:
        return
    log(f"creating {KSERVE_VENV.name} with {' '.join(KSERVE_PINS)} (about a minute)")
    subprocess.run(["python3.11", "-m", "venv", KSERVE_VENV], check=True)
    subprocess.run([KSERVE_PY, "-m", "pip", "install", "--quiet", *KSERVE_PINS], check=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(cmd: list, ready_url: str, log_path: Path, timeout: float = 180.0, env: dict | None = None):
    """Start a server process, wait (bounded) until ready_url answers 200, stop it afterwards."""
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout:.0f}s; log:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load_cmd(url: str, body: Body, content_type: str, concurrency: str, requests: int, seconds: float,
             reps: int) -> list:
    return [PY, BENCH / "server_load.py", "--url", url, "--body", body.path, "--content-type", content_type,
            *[f"--header={k}:{v}" for k, v in body.headers.items()], "--concurrency", concurrency,
            "--requests", str(requests), "--seconds", str(seconds), "--reps", str(reps)]


def run_load(target: str, api: str, size: int, url: str, body: Body, server_pid: int, args) -> list[Row]:
    cmd = load_cmd(url, body, APIS[api].content_type, args.concurrency, args.requests, args.seconds, args.reps)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = cpu_seconds(server_pid)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    server_cpu = cpu_seconds(server_pid) - before_server
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    loadgen_cpu = ((after_children.ru_utime - before_children.ru_utime)
                   + (after_children.ru_stime - before_children.ru_stime))
    result = json.loads(out)
    served = sum(len(v["latencies_ms"]) for v in result.values()) or 1
    rows = []
    for level, v in result.items():
        rows.append(Row(
            target, api, size, int(level),
            ips=statistics.median(v["ips"]),
            p50_ms=percentile(v["latencies_ms"], 50), p99_ms=percentile(v["latencies_ms"], 99),
            errors=v["errors"],
            # CPU is measured over the whole load run (warm-ups included), hence approximate.
            server_cpu_ms_per_image=1000 * server_cpu / served,
            loadgen_cpu_ms_per_image=1000 * loadgen_cpu / served,
        ))
        if v["errors"]:
            log(f"{target} {api} {size}px c={level}: {v['errors']} errors, e.g. {v['error_sample']}")
    return rows


def profile_load(pid: int, api: str, size: int, url: str, body: Body, work: Path, args) -> str:
    """py-spy over one load run at concurrency 8 (a busy server), summarised."""
    raw = work / f"profile-{api}-{size}.txt"
    seconds = max(args.seconds, 5)
    spy = record(pid, seconds, raw)
    subprocess.run(load_cmd(url, body, APIS[api].content_type, "8", 10_000, seconds, 1), check=True,
                   capture_output=True)
    _, err = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not raw.exists():
        return f"(py-spy failed: {err.decode(errors='replace')[-500:]})"
    return summary(raw)


def bench_floor(model: Path, sizes: list[int], args) -> list[Row]:
    rows = []
    for size in sizes:
        log(f"floor: in-process TensorFlow, {size}x{size}, batches 1,8,32")
        out = subprocess.run(
            [PY, BENCH / "server_raw.py", "floor", "--model", model, "--size", str(size),
             "--batches", "1,8,32", "--reps", str(args.reps), "--seconds", str(args.seconds / 2)],
            check=True, capture_output=True, text=True,
        ).stdout
        for b, ips in json.loads(out.strip().splitlines()[-1])["batches"].items():
            rows.append(Row("floor", "in-process", size, int(b), ips))
    return rows


def merge_floors(passes: list[list[Row]]) -> list[Row]:
    if not passes:
        return []
    merged = []
    for same in zip(*passes, strict=True):  # every pass lists the same (size, batch) rows in the same order
        merged.append(Row("floor", "in-process", same[0].size, same[0].level,
                          ips=statistics.mean(r.ips for r in same)))
        if len(same) > 1:
            log(f"floor {same[0].size}px batch {same[0].level}: " + " / ".join(f"{r.ips:.1f}" for r in same)
                + " images/s (before / after the servers)")
    return merged


def bench_server(model: Path, bodies: dict[int, dict[str, Body]], work: Path, args) -> tuple[list[Row], list[str]]:
    port, grpc_port = free_port(), free_port()
    flags = ["--model-uri", str(model), "--model-name", MODEL_NAME, "--host", HOST, "--port", str(port),
             "--grpc-port", str(grpc_port), *shlex.split(args.server_args)]
    cmd = [args.server_python or PY, "-m", "inference_server", *flags]
    base, target = f"http://{HOST}:{port}", f"{HOST}:{grpc_port}"
    rows, profiles = [], []
    log(f"server: {' '.join(map(str, cmd[1:]))}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # another venv's python still finds the server
    with serving(cmd, f"{base}/v2/health/ready", work / "server.log", env=env) as proc:
        for size, by_api in bodies.items():
            for key, body in by_api.items():
                url = APIS[key].url(base, target, MODEL_NAME)
                log(f"server {APIS[key].label} {size}x{size} ({body.path.stat().st_size // 1024} KB)")
                rows += run_load("server", key, size, url, body, proc.pid, args)
                if key in args.profile:
                    log(f"profiling the server under {APIS[key].label} {size}x{size}")
                    profiles.append(f"#### {APIS[key].label}, {size}x{size}, concurrency 8\n\n"
                                    + profile_load(proc.pid, key, size, url, body, work, args))
    return rows, profiles


def bench_kserve(model: Path, bodies: dict[int, dict[str, Body]], work: Path, args) -> list[Row]:
    ensure_kserve_venv()
    port, grpc_port = free_port(), free_port()
    cmd = [KSERVE_PY, BENCH / "server_kserve_model.py", "--model_dir", str(model), "--model_name", MODEL_NAME,
           "--http_port", str(port), "--grpc_port", str(grpc_port)]
    base, target = f"http://{HOST}:{port}", f"{HOST}:{grpc_port}"
    rows = []
    log("kserve: ModelServer with bench/server_kserve_model.py")
    with serving(cmd, f"{base}/v1/models/{MODEL_NAME}", work / "kserve.log") as proc:
        for size, by_api in bodies.items():
            for key, body in by_api.items():
                if not APIS[key].kserve:
                    continue
                log(f"kserve {APIS[key].label} {size}x{size}")
                rows += run_load("kserve", key, size, APIS[key].url(base, target, MODEL_NAME), body, proc.pid, args)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, help="a SavedModel directory with the Zoo signature (default: build one)")
    p.add_argument("--model-kind", default="tiny", choices=["tiny", "mobile"],
                   help="which model to build without --model: tiny (overhead-bound) or mobile "
                        "(SSD MobileNet-like compute, bench/server_models.py)")
    p.add_argument("--sizes", default="320,640", help="square image sizes, comma-separated")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--apis", default=",".join(APIS), help=f"server APIs to drive: {', '.join(APIS)}")
    p.add_argument("--profile", default="", help="APIs to profile with py-spy under load (comma-separated, or all)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per measurement (median reported)")
    p.add_argument("--requests", type=int, default=200, help="requests per load run (at least 4 x concurrency)")
    p.add_argument("--seconds", type=float, default=6.0, help="time cap per load run")
    p.add_argument("--server-args", default="", help="extra flags for python -m inference_server")
    p.add_argument("--server-python", type=Path,
                   help="python for the server (default .venv's; .venv-kserve's has uvloop + httptools)")
    p.add_argument("--skip", default="", help="parts to skip, comma-separated: floor, server, kserve")
    p.add_argument("--json", type=Path, help="also write the rows here as JSON")
    p.add_argument("--quick", action="store_true", help="smoke run: 320 only, concurrency 1,8, 1 rep, short runs")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.concurrency, args.reps, args.requests, args.seconds = "320", "1,8", 1, 40, 3.0
    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(s) for s in args.sizes.split(",")]
    keys = [k for k in args.apis.split(",") if k]
    args.profile = set(keys) if args.profile == "all" else set(filter(None, args.profile.split(",")))

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="server-bench-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            model = work / f"{args.model_kind}_ssd"
            log(f"building the {args.model_kind} Zoo-signature SavedModel")
            subprocess.run([PY, BENCH / "server_raw.py", "build", args.model_kind, model], check=True,
                           capture_output=True)
        bodies = {size: write_bodies(scene(size), size, MODEL_NAME, work, keys) for size in sizes}

        # The floor is measured before and after the servers and averaged: on a shared machine the
        # background load drifts over the minutes a run takes, and this cancels most of the drift.
        floors: list[list[Row]] = []
        rows: list[Row] = []
        profiles: list[str] = []
        if "floor" not in skip:
            floors.append(bench_floor(model, sizes, args))
        if "server" not in skip:
            served, profiles = bench_server(model, bodies, work, args)
            rows += served
        if "kserve" not in skip:
            rows += bench_kserve(model, bodies, work, args)
        if "floor" not in skip and rows:
            floors.append(bench_floor(model, sizes, args))
        rows = merge_floors(floors) + rows

    print(report(rows))
    if profiles:
        print("\nWhere the server's time goes (py-spy, all threads):\n")
        print("\n\n".join(profiles))
    print(f"\n{len(rows)} measurements in {time.monotonic() - started:.0f} s; "
          f"{os.cpu_count()} CPUs; reps={args.reps}, requests/run<={max(args.requests, 1)}, cap {args.seconds:g} s/run")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()
