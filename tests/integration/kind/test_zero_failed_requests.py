"""Zero failed requests while the platform changes things under a detector, on real pods: a client
in the cluster keeps sending detections through the Service during a model rollout, a node drain
and a scale-down. The server's drain delay (it keeps serving, unready, until endpoint removal has
reached kube-proxy) is what keeps the count at zero: without it, the same scale-down fails requests."""
from __future__ import annotations

import json

import pytest

from localprocs import wait_for
from tests.support.kube import condition, kubectl, kubectl_json

from . import disruptions
from .conftest import Kind, apply_detector, ready_condition
from .traffic import TrafficPod

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", ["rollout", "drain", "scale-down"])
def test_no_request_fails_while_pods_end(kind: Kind, ns: str, scenario: str) -> None:
    run = disruptions.SCENARIOS[scenario](kind, ns)
    print(f"\nDISRUPTION {run.line(scenario, None)}")
    assert run.outcome.answered >= 50, run.outcome.counts  # the client really sent through it
    assert run.outcome.failed == 0, run.line(scenario, None)


def test_without_the_drain_delay_the_same_scale_down_fails_requests(kind: Kind, ns: str) -> None:
    # The proof that the test above can fail: the server stops accepting at SIGTERM, while
    # kube-proxy still routes new connections to it for a moment.
    run = disruptions.scale_down(kind, ns, drain_delay=0)
    print(f"\nDISRUPTION {run.line('scale-down', 0)}")
    # Without the delay the old pods are gone in 1-3 s: the client's 20 answers before the change
    # (TrafficPod.wait_for_answers) are what shows it was really sending.
    assert run.outcome.answered >= 20, run.outcome.counts
    assert run.outcome.failed > 0, run.line("scale-down", 0)


def test_a_new_model_that_cannot_load_blocks_the_rollout_while_the_old_pods_serve(kind: Kind, ns: str) -> None:
    apply_detector(ns, "keep", modelUri=kind.model_url, replicas=2)
    disruptions.wait_serving(ns, "keep", 2)
    old = disruptions.all_pod_names(ns, "keep")
    url = kubectl_json("-n", ns, "get", "od", "keep")["status"]["url"]

    def progressing() -> dict:
        return condition(ns, "keep", "Progressing") or {}

    with TrafficPod(ns, url, "keep", kind.server_image) as traffic:
        traffic.wait_for_answers()
        kubectl("-n", ns, "patch", "od", "keep", "--type=merge", "-p",
                json.dumps({"spec": {"modelUri": f"{kind.model_base}/no-such-model.tar.gz"}}))
        blocked = wait_for(lambda: (c := progressing()).get("reason") == "RolloutBlocked" and c,
                           timeout=240, interval=1, message="Progressing=False/RolloutBlocked")
        # Still serving the old model, and saying so.
        assert ready_condition(ns, "keep")["status"] == "True"
        assert blocked["status"] == "False" and "404" in blocked["message"], blocked
        assert old <= disruptions.all_pod_names(ns, "keep")  # the old pods were never taken down
        # Recovery the GitOps way: the spec back to a model that loads.
        kubectl("-n", ns, "patch", "od", "keep", "--type=merge", "-p",
                json.dumps({"spec": {"modelUri": kind.model_url}}))
        wait_for(lambda: progressing().get("reason") == "RolloutComplete", timeout=240, interval=1,
                 message="the rollout complete again")
        outcome = traffic.stop()
    print(f"\nDISRUPTION blocked rollout and recovery: {outcome.total} requests, {outcome.failed} failed "
          f"{dict(outcome.counts)}; blocked said: {blocked['message']}")
    assert outcome.answered >= 50 and outcome.failed == 0, outcome.counts
