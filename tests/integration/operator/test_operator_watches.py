"""What the operator asks of the API server: only its own children, and a short story in Events."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from detector_operator.builders import DETECTOR_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from localprocs import wait_for
from tests.support.kube import apply, detector, kubectl, wait_events, wait_ready, wait_reason

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
CHILDREN = {"deployments", "services", "pods"}


def operator_watches(audit_log, since: int) -> dict[str, set[str]]:
    """Label selectors of the operator's list/watch requests on child kinds, by resource."""
    found: dict[str, set[str]] = {}
    with audit_log.open("rb") as f:
        f.seek(since)
        for line in f:
            entry = json.loads(line)
            resource = (entry.get("objectRef") or {}).get("resource")
            if entry.get("verb") in ("list", "watch") and resource in CHILDREN and \
                    entry.get("userAgent", "").startswith("kopf"):
                query = parse_qs(urlparse(entry["requestURI"]).query)
                found.setdefault(resource, set()).add(query.get("labelSelector", [""])[0])
    return found


def test_child_watches_carry_the_operators_label_selector_to_the_api_server(crds, audit_log, tmp_path):
    from tests.support.operator_process import OperatorProcess

    since = audit_log.stat().st_size
    proc = OperatorProcess(tmp_path).start()  # a fresh process: its first lists are in the log
    try:
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{DETECTOR_LABEL}"
        seen = wait_for(lambda: (w := operator_watches(audit_log, since)).keys() >= CHILDREN and w,
                        timeout=30, message="the operator's child lists and watches in the audit log")
        assert seen == {r: {selector} for r in CHILDREN}, seen
    finally:
        proc.stop()


def test_events_tell_the_story_without_repeating_the_status(operator, namespace):
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    # A smooth start: the operator says what it did; Ready is in the status, not a second Event.
    assert [e["reason"] for e in wait_events(namespace, "cams", "Created")] == ["Created"]
    apply(namespace, detector("cams", replicas=5, gpu={"count": 9}, hardware="gpu"))  # no node fits
    wait_reason(namespace, "cams", "Unschedulable", timeout=60)
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    # Timestamps on core Events have one-second precision, and Created and the first Updated often share
    # a second (CI failed on that tie once): etcd's revision, which each new Event gets, breaks it.
    told = wait_events(namespace, "cams", "Created", "Updated", "Unschedulable", "Updated")
    story = sorted(told, key=lambda e: (e["lastTimestamp"], int(e["metadata"]["resourceVersion"])))
    reasons = [e["reason"] for e in story]
    assert reasons[0] == "Created" and reasons.count("Updated") == 2 and "Unschedulable" in reasons
    warning = next(e for e in story if e["reason"] == "Unschedulable")
    assert warning["type"] == "Warning" and "Insufficient nvidia.com/gpu" in warning["message"]
    assert kubectl("describe", "od", "cams", "-n", namespace).stdout.count("Unschedulable") >= 1
