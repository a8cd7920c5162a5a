"""What the platform does under a serving detector: a new model rolled out, a node drained, a scale
down. Each runs a detector on the kind cluster with a TrafficPod sending detections through its
Service from before the change until the last old pod is gone, and returns what the client saw
and when things happened (seconds after the change began).

Shared by tests/integration/kind/test_zero_failed_requests.py (which asserts) and
bench/disruption.py (which prints the table with and without the server's drain delay)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detector_operator.builders import DETECTOR_LABEL
from localprocs import wait_for
from tests.support.kube import kubectl, kubectl_json

from .conftest import Kind, apply_detector, ready_condition
from .traffic import Outcome, TrafficPod


@dataclass
class Run:
    outcome: Outcome
    timeline: dict[str, float]

    def line(self, scenario: str, drain_delay: int | None) -> str:
        delay = "default" if drain_delay is None else drain_delay
        return (f"{scenario} (drainDelaySeconds {delay}): {self.outcome.total} requests, "
                f"{self.outcome.failed} failed {dict(self.outcome.counts)}; timeline {json.dumps(self.timeline)}")


def live_pods(namespace: str, name: str) -> list[dict[str, Any]]:
    pods = kubectl_json("-n", namespace, "get", "pods", "-l", f"{DETECTOR_LABEL}={name}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def all_pod_names(namespace: str, name: str) -> set[str]:
    """Every pod of the detector, terminating ones included."""
    pods = kubectl_json("-n", namespace, "get", "pods", "-l", f"{DETECTOR_LABEL}={name}")["items"]
    return {p["metadata"]["name"] for p in pods}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def wait_serving(namespace: str, name: str, replicas: int, timeout: float = 300) -> None:
    def serving() -> bool:
        status = kubectl_json("-n", namespace, "get", "od", name).get("status") or {}
        return ready_condition(namespace, name).get("status") == "True" and status.get("readyReplicas") == replicas

    wait_for(serving, timeout=timeout, interval=1, message=f"{name} Ready with {replicas} ready replicas")


def _spec(drain_delay: int | None) -> dict[str, Any]:
    return {} if drain_delay is None else {"server": {"drainDelaySeconds": drain_delay}}


Change = Callable[[dict[str, float], float], set[str]]


def _under_traffic(kind: Kind, namespace: str, name: str, change: Change) -> Run:
    """Sends traffic, runs change(timeline, t0), which returns the pods it made end, waits until
    they are gone (their endings are what is on trial) and stops the client."""
    url = kubectl_json("-n", namespace, "get", "od", name)["status"]["url"]
    timeline: dict[str, float] = {}
    with TrafficPod(namespace, url, name, kind.server_image) as traffic:
        traffic.wait_for_answers()
        t0 = time.monotonic()
        ending = change(timeline, t0)
        assert ending, "the change ended no pod"
        wait_for(lambda: not ending & all_pod_names(namespace, name), timeout=300, interval=0.5,
                 message=f"{sorted(ending)} to end")
        timeline["old pods gone"] = round(time.monotonic() - t0, 1)
        outcome = traffic.stop()
    return Run(outcome, timeline)


def rollout(kind: Kind, namespace: str, drain_delay: int | None = None, name: str = "roll") -> Run:
    """Three replicas; a new modelUri (the same model at another URL: a new pod template)."""
    apply_detector(namespace, name, modelUri=kind.model_url, replicas=3, **_spec(drain_delay))
    wait_serving(namespace, name, 3)

    def change(timeline: dict[str, float], t0: float) -> set[str]:
        old = all_pod_names(namespace, name)
        kubectl("-n", namespace, "patch", "od", name, "--type=merge", "-p",
                json.dumps({"spec": {"modelUri": kind.model_url + "?v=2"}}))
        wait_for(lambda: len([p for p in live_pods(namespace, name)
                              if p["metadata"]["name"] not in old and is_ready(p)]) == 3,
                 timeout=300, interval=0.5, message="three new pods ready")
        timeline["new pods ready"] = round(time.monotonic() - t0, 1)
        wait_serving(namespace, name, 3)
        timeline["Ready again, 3 replicas"] = round(time.monotonic() - t0, 1)
        return old

    return _under_traffic(kind, namespace, name, change)


def drain(kind: Kind, namespace: str, drain_delay: int | None = None, name: str = "drain") -> Run:
    """Two replicas (one per worker); the node of one is drained (only this detector's pods: the
    rest of the cluster is other tests' business), then uncordoned."""
    apply_detector(namespace, name, modelUri=kind.model_url, replicas=2, **_spec(drain_delay))
    wait_serving(namespace, name, 2)
    node = live_pods(namespace, name)[0]["spec"]["nodeName"]

    def change(timeline: dict[str, float], t0: float) -> set[str]:
        evicted = {p["metadata"]["name"] for p in live_pods(namespace, name) if p["spec"]["nodeName"] == node}
        kubectl("drain", node, f"--pod-selector={DETECTOR_LABEL}={name}", "--ignore-daemonsets",
                "--delete-emptydir-data", "--timeout=300s")
        timeline[f"kubectl drain {node} returned"] = round(time.monotonic() - t0, 1)
        wait_serving(namespace, name, 2)
        timeline["2 ready replicas again"] = round(time.monotonic() - t0, 1)
        return evicted

    try:
        return _under_traffic(kind, namespace, name, change)
    finally:
        kubectl("uncordon", node, check=False)


def scale_down(kind: Kind, namespace: str, drain_delay: int | None = None, name: str = "shrink") -> Run:
    """Three replicas scaled to one with `kubectl scale od/<name>`."""
    apply_detector(namespace, name, modelUri=kind.model_url, replicas=3, **_spec(drain_delay))
    wait_serving(namespace, name, 3)

    def change(timeline: dict[str, float], t0: float) -> set[str]:
        before = all_pod_names(namespace, name)
        kubectl("-n", namespace, "scale", f"od/{name}", "--replicas=1")
        wait_for(lambda: len(live_pods(namespace, name)) == 1, timeout=120, interval=0.5, message="1 live pod")
        timeline["2 pods terminating"] = round(time.monotonic() - t0, 1)
        return before - {p["metadata"]["name"] for p in live_pods(namespace, name)}

    return _under_traffic(kind, namespace, name, change)


SCENARIOS: dict[str, Callable[..., Run]] = {"rollout": rollout, "drain": drain, "scale-down": scale_down}
