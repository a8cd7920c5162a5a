"""Process lifecycle: SIGTERM drains requests in flight; a model that cannot load ends the process."""

from __future__ import annotations

import re
import signal
import threading
import time

import httpx

from tests.support.images import encode, picture


def in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return float(re.search(r"^detector_requests_in_flight (\S+)$", text, re.MULTILINE).group(1))


def test_sigterm_lets_a_request_in_flight_finish(server_factory, zoo_model_dir):
    # The request's body arrives in two parts, the second only after SIGTERM: the request is
    # certainly in flight then (a lone request no longer waits in the batcher: it runs at once).
    server = server_factory(str(zoo_model_dir)).wait_ready()
    image = encode(picture())
    signalled = threading.Event()
    result: dict[str, httpx.Response] = {}

    def body():
        yield image[:100]
        signalled.wait(30)
        yield image[100:]

    def call() -> None:
        result["response"] = httpx.post(f"{server.url}/v1/models/detector:detect", content=body(),
                                        headers={"content-type": "image/png"}, timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while in_flight(server.url) < 1:
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.02)
    server.proc.send_signal(signal.SIGTERM)
    while "Shutting down" not in server.log():  # the rest of the body comes only once shutdown began
        assert time.monotonic() < deadline + 10, "the server did not start shutting down"
        time.sleep(0.02)
    signalled.set()
    caller.join(30)

    response = result["response"]
    assert response.status_code == 200 and response.json()["detections"]
    # uvicorn re-raises SIGTERM after its orderly shutdown, as supervisors expect (exit status 143).
    assert server.proc.wait(30) == -signal.SIGTERM
    assert "Finished server process" in server.log()


def test_a_model_that_cannot_load_ends_the_process_with_the_reason(server_factory, tmp_path):
    server = server_factory(str(tmp_path / "no-such-model"))
    assert server.proc.wait(60) == 1
    assert "model load failed" in server.log() and "no-such-model does not exist" in server.log()


def test_a_directory_without_the_detection_signature_is_refused(server_factory, tmp_path):
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def double(self, x):
            return {"y": x * 2}

    module = Doubler()
    tf.saved_model.save(module, str(tmp_path / "doubler"), signatures={"serving_default": module.double})
    server = server_factory(str(tmp_path / "doubler"))
    assert server.proc.wait(60) == 1
    assert "must take one input 'input_tensor'" in server.log()


def test_sigterm_while_the_model_loads_ends_at_once_and_says_why(server_factory, tmp_path):
    # A model whose warm-up takes a minute: the kubelet's startup probe giving up sends SIGTERM
    # mid-load. The process must not wait for the load (a thread that cannot be interrupted), and
    # its termination message is what the pod's status (and the ObjectDetector's) shows.
    from tests.support.zoo_model import build_zoo_savedmodel

    model = build_zoo_savedmodel(tmp_path / "slow", first_call_seconds=60)
    termination_log = tmp_path / "termination-log"
    termination_log.touch()  # the kubelet creates it; the server writes only where it exists
    server = server_factory(str(model), env={"DETECTOR_TERMINATION_LOG": str(termination_log)})
    server.wait_status("/v2/health/live", 200)
    server.wait_status("/v2/health/ready", 503)
    server.proc.send_signal(signal.SIGTERM)
    # Within 30 s, not after the load's minute (wait raises TimeoutExpired past it); 143, as a
    # signal's end is reported, also where the server is a container's PID 1.
    assert server.proc.wait(30) == 128 + signal.SIGTERM
    said = termination_log.read_text()
    assert "stopped by SIGTERM" in said and "while the model was still loading" in said, said
    assert "spec.server.startupTimeoutSeconds" in said
