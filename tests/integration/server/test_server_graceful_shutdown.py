"""The ending a rollout or a drain sees: on SIGTERM readiness turns false at once (HTTP 503, gRPC
NOT_SERVING) while new connections are still accepted and served through the drain delay, so
the requests a load balancer sends before the endpoint removal reaches it do not fail; pooled
connections are told to close; a request in flight finishes; then the process exits."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from urllib.parse import urlsplit

import grpc
import httpx
import numpy as np
import tritonclient.grpc as triton_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import localprocs
from tests.support.images import encode, picture

# The server's --drain-delay-seconds in this test. Everything the test checks during the delay (the
# readiness answers, a gRPC inference, the pooled and the new connections) must fit in it: a few
# hundred ms on an idle machine, seconds on a loaded one (4 s left it 3 s), hence 8.
DELAY = 8.0
MARGIN = 2.0  # requests are sent until DELAY - MARGIN after SIGTERM: the timer is not the test
IMAGE = encode(picture())


def detect_on_a_new_connection(url: str) -> int:
    """One request on a fresh TCP connection, as a client routed here by kube-proxy makes."""
    with httpx.Client(timeout=10) as client:
        return client.post(f"{url}/v1/models/detector:detect", content=IMAGE,
                           headers={"content-type": "image/png"}).status_code


def grpc_health(target: str) -> str:
    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def grpc_infer(target: str) -> tuple[int, ...]:
    tensor = triton_grpc.InferInput("input_tensor", [1, 240, 320, 3], "UINT8")
    tensor.set_data_from_numpy(picture()[None].astype(np.uint8))
    client = triton_grpc.InferenceServerClient(target)
    try:
        return client.infer("detector", [tensor], client_timeout=10).as_numpy("detection_scores").shape
    finally:
        client.close()


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/v2/health/live", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_sigterm_turns_readiness_false_at_once_and_keeps_serving_through_the_drain_delay(
        server_factory, zoo_model_dir):
    server = server_factory(str(zoo_model_dir), "--drain-delay-seconds", str(DELAY)).wait_ready()
    address = urlsplit(server.url)
    pooled = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    pooled.request("GET", "/v2/health/live")
    first = pooled.getresponse()
    assert first.status == 200 and not first.will_close
    first.read()

    # A request in flight across the whole ending: its body's second half is sent only at the end.
    release = threading.Event()
    in_flight: dict[str, httpx.Response | BaseException] = {}

    def body():
        yield IMAGE[:100]
        release.wait(60)
        yield IMAGE[100:]

    def call() -> None:
        try:
            in_flight["response"] = httpx.post(f"{server.url}/v1/models/detector:detect", content=body(),
                                               headers={"content-type": "image/png"}, timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            in_flight["response"] = exc

    caller = threading.Thread(target=call)
    caller.start()
    localprocs.wait_for(lambda: "detector_requests_in_flight 1.0" in httpx.get(f"{server.url}/metrics").text,
                        timeout=10, interval=0.02, message="the request to be in flight")

    server.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    # At once, well before the delay ends (a deadline of half of it, not a measured duration): the
    # serving checked below happens after this, so readiness was false while the pod still served.
    localprocs.wait_for(lambda: httpx.get(f"{server.url}/v2/health/ready", timeout=2).status_code == 503,
                        timeout=DELAY / 2, interval=0.01, message="/v2/health/ready to answer 503")
    not_ready_after = time.monotonic() - signalled
    ready = httpx.get(f"{server.url}/v2/health/ready", timeout=2)
    assert ready.status_code == 503 and "shutting down" in ready.json()["error"]
    assert grpc_health(server.grpc_target) == "NOT_SERVING"

    # Through the delay, new connections (HTTP and gRPC) and the pooled one are all served.
    assert grpc_infer(server.grpc_target) == (1, 100)
    pooled.request("GET", "/v2/health/live")
    last = pooled.getresponse()
    assert last.status == 200 and last.will_close, "a pooled connection must be told to close"
    pooled.close()
    answers = [detect_on_a_new_connection(server.url)]  # one at least, however late the machine got here
    while time.monotonic() - signalled < DELAY - MARGIN:
        answers.append(detect_on_a_new_connection(server.url))
    served_until = time.monotonic() - signalled
    assert answers and set(answers) == {200}, answers

    # After the delay the listener closes; the request in flight still finishes.
    localprocs.wait_for(lambda: refuses_connections(server.url), timeout=DELAY + 10, interval=0.05,
                        message="the listener to close")
    closed_after = time.monotonic() - signalled
    release.set()
    caller.join(30)
    response = in_flight["response"]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200 and response.json()["detections"]
    assert server.proc.wait(30) == -signal.SIGTERM
    exited_after = time.monotonic() - signalled

    assert closed_after >= DELAY - 0.5, f"the listener closed {closed_after:.2f}s after SIGTERM"
    print(f"\ndrain timeline after SIGTERM (delay {DELAY:g}s): not ready {not_ready_after * 1000:.0f} ms; "
          f"{len(answers)} new-connection requests served until {served_until:.2f}s, all 200; "
          f"listener closed {closed_after:.2f}s; in-flight request answered 200; exit {exited_after:.2f}s")


def test_without_a_delay_sigterm_closes_the_listener_at_once(server_factory, zoo_model_dir):
    """Ctrl-C by hand (the default, 0 s) ends at once; a pod sets a delay (builders)."""
    # A graceful bound longer than the wait below: exiting within the wait means nothing waited it out.
    server = server_factory(str(zoo_model_dir), "--drain-delay-seconds", "0", "--drain-seconds", "120").wait_ready()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == -signal.SIGTERM
    assert "shutting down in" not in server.log()
