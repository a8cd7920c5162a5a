"""gRPC connections have an age (--grpc-max-connection-age-seconds): a call whose message never
finishes arriving cannot hold its connection for ever, and a real client's pooled channel is
moved to a new connection with no failed call (which is what lets channels spread over new pods)."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc

from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

AGE = DEADLINE = 2.0  # seconds: the connection's age, and the grace its calls get after it


@pytest.fixture(scope="module")
def server(zoo_model_dir, tmp_path_factory):
    from tests.support.server_process import ServerProcess

    proc = ServerProcess(str(zoo_model_dir), "--model-name", MODEL_NAME, "--grpc-max-connection-age-seconds", str(AGE),
                         "--grpc-deadline-seconds", str(DEADLINE),
                         log_dir=tmp_path_factory.mktemp("grpc-age")).wait_ready()
    yield proc
    proc.stop()


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    """HPACK: a literal header field without indexing, names and values not Huffman-coded."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def test_a_grpc_call_whose_message_never_finishes_arriving_loses_its_connection(server):
    # HTTP/2 by hand: the headers of a ModelInfer call, then the first 10 bytes of a message that
    # declares 1000. gRPC's own deadline starts only once the message is in; before the age, this
    # held the connection (and a --max-connections slot) for as long as the sender liked.
    host, port = server.grpc_target.split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    headers = b"".join(_literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", "/inference.GRPCInferenceService/ModelInfer"),
        (":authority", server.grpc_target), ("content-type", "application/grpc"), ("te", "trailers")])
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"")  # preface, SETTINGS
                 + _frame(1, 0x4, 1, headers)  # HEADERS, END_HEADERS, stream 1
                 + _frame(0, 0, 1, b"\x00" + struct.pack(">I", 1000) + b"\x00" * 5))  # DATA, 10 bytes
    sent = time.monotonic()
    sock.settimeout(1)
    closed_after = None
    while time.monotonic() - sent < 30:
        try:
            if sock.recv(65536) == b"":
                closed_after = time.monotonic() - sent
                break
        except TimeoutError:
            continue
        except ConnectionResetError:
            closed_after = time.monotonic() - sent
            break
    sock.close()
    # Age (with grpc's up to 10 % jitter) plus the grace, and some slack for a loaded machine.
    assert closed_after is not None, "the half-sent call still held its connection after 30 s"
    assert closed_after < AGE * 1.1 + DEADLINE + 10, closed_after


def test_a_pooled_client_keeps_every_call_across_connection_ages(server):
    client = triton_grpc.InferenceServerClient(server.grpc_target)
    image = np.zeros((1, 64, 64, 3), np.uint8)
    calls, started = 0, time.monotonic()
    while time.monotonic() - started < AGE * 4:  # about four connections' lives
        tensor = triton_grpc.InferInput("input_tensor", list(image.shape), "UINT8")
        tensor.set_data_from_numpy(image)
        result = client.infer(MODEL_NAME, [tensor])  # raises on any failed call
        assert result.as_numpy("num_detections") is not None
        calls += 1
        time.sleep(0.05)
    client.close()
    assert calls > 20, calls
