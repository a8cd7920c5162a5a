"""gRPC follows the server's lifecycle: grpc.health.v1 says NOT_SERVING while the model loads and
SERVING once it is ready (as /v2/health/ready does); SIGTERM lets a call in flight finish; a
taken port stops the server with the reason."""

from __future__ import annotations

import re
import signal
import socket
import threading

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import localprocs
from tests.support.images import picture

SERVICES = ["", "inference.GRPCInferenceService", "tensorflow.serving.PredictionService",
            "tensorflow.serving.ModelService"]


def health(target: str, service: str = "") -> str:
    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


@pytest.fixture
def gated_model(file_server, zoo_tarball):
    return file_server({"tiny_ssd.tar.gz": zoo_tarball}, gated={"tiny_ssd.tar.gz"})


def test_health_is_serving_only_once_the_model_is_ready(server_factory, gated_model):
    server = server_factory(f"{gated_model.url}/tiny_ssd.tar.gz")
    server.wait_status("/v2/health/live", 200)
    localprocs.wait_for(lambda: _answers(server.grpc_target), timeout=60, message="gRPC to answer")
    assert {service: health(server.grpc_target, service) for service in SERVICES} == dict.fromkeys(
        SERVICES, "NOT_SERVING")
    client = triton_grpc.InferenceServerClient(server.grpc_target)
    assert client.is_server_live() and not client.is_server_ready() and not client.is_model_ready("detector")
    gated_model.release()
    server.wait_ready()
    localprocs.wait_for(lambda: health(server.grpc_target) == "SERVING", timeout=10, message="SERVING")
    assert {service: health(server.grpc_target, service) for service in SERVICES} == dict.fromkeys(SERVICES, "SERVING")
    assert client.is_server_ready() and client.is_model_ready("detector")
    client.close()


def _answers(target: str) -> bool:
    try:
        health(target)
    except grpc.RpcError:
        return False
    return True


def in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return float(re.search(r"^detector_requests_in_flight (\S+)$", text, re.MULTILINE).group(1))


def test_sigterm_lets_a_grpc_call_in_flight_finish(server_factory, zoo_model_dir):
    # A big batch keeps the call busy in TensorFlow for a while: it is in flight when SIGTERM comes.
    # (12 images: --max-batch-size is also the most images a request may carry.)
    server = server_factory(str(zoo_model_dir), "--max-body-bytes", str(64 << 20),
                            "--max-batch-size", "12").wait_ready()
    batch = np.stack([picture(1024, 1024, seed=s) for s in range(12)])
    tensor = triton_grpc.InferInput("input_tensor", list(batch.shape), "UINT8")
    tensor.set_data_from_numpy(batch)
    result: dict = {}

    def call() -> None:
        client = triton_grpc.InferenceServerClient(server.grpc_target)
        try:
            result["answer"] = client.infer("detector", [tensor], client_timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc
        client.close()

    caller = threading.Thread(target=call)
    caller.start()
    localprocs.wait_for(lambda: in_flight(server.url) >= 1, timeout=20, interval=0.01, message="the call to arrive")
    server.proc.send_signal(signal.SIGTERM)
    caller.join(60)
    assert "error" not in result, result.get("error")
    assert result["answer"].as_numpy("detection_scores").shape == (12, 100)
    assert server.proc.wait(30) == -signal.SIGTERM
    assert "gRPC stopped" in server.log()


def test_a_taken_grpc_port_stops_the_server_with_the_reason(server_factory, zoo_model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = server_factory(str(zoo_model_dir), "--grpc-port", str(port))
        assert server.proc.wait(60) != 0
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in server.log()
    assert "DETECTOR_GRPC_PORT" in server.log()


def test_grpc_can_be_turned_off(server_factory, zoo_model_dir):
    server = server_factory(str(zoo_model_dir), "--grpc-port", "0").wait_ready()
    assert "gRPC listening" not in server.log()
    with pytest.raises(grpc.RpcError) as refused:
        health(server.grpc_target)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
