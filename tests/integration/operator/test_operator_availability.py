"""A detector keeps serving while the platform changes things under it, on the real control plane
(API server, scheduler, controller-manager with its disruption and deployment controllers; kwok
nodes of each test's own, tests/support/nodes.py): replicas spread over nodes, the user's own
placement rules survive, a failed rollout leaves the old pods serving."""
from __future__ import annotations

from collections import Counter

import pytest

from detector_operator.builders import DETECTOR_LABEL as LABEL
from tests.support.kube import apply, detector, get_json, wait_ready
from tests.support.nodes import POOL, node, placement, pool_nodes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# Every pool node carries it: a soft spread constraint on a key some nodes lack makes the
# scheduler skip those nodes for all of the pod's soft constraints (see availability.py).
RACK = "detector-test/rack"


def nodes_of(namespace: str, name: str) -> Counter[str]:
    pods = get_json(namespace, "pods", "-l", f"{LABEL}={name}")["items"]
    return Counter(p["spec"].get("nodeName", "") for p in pods if not p["metadata"].get("deletionTimestamp"))


def uneven_pool(namespace: str) -> list[dict]:
    """One big node the scheduler's resource scoring prefers for every pod, and two small ones:
    without a spread rule all replicas land on the big one."""
    return [node(f"{namespace}-big", namespace, cpu="64", memory="256Gi", labels={RACK: "r1"}),
            node(f"{namespace}-small-1", namespace, cpu="4", memory="16Gi", labels={RACK: "r2"}),
            node(f"{namespace}-small-2", namespace, cpu="4", memory="16Gi", labels={RACK: "r3"})]


def test_three_replicas_land_on_three_nodes_when_they_fit(operator, namespace):
    with pool_nodes(*uneven_pool(namespace)) as names:
        apply(namespace, detector("spread", replicas=3, **placement(namespace)))
        wait_ready(namespace, "spread")
        assert nodes_of(namespace, "spread") == Counter(dict.fromkeys(names, 1))


def test_the_users_constraints_and_affinity_survive_next_to_the_default_spread(operator, namespace):
    with pool_nodes(*uneven_pool(namespace)) as (big, small_1, small_2):
        # The user keeps the pods off small-2 (required node affinity) and adds a rack rule.
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": [small_2]}]}]}}}
        rack = {"maxSkew": 1, "topologyKey": RACK, "whenUnsatisfiable": "ScheduleAnyway"}
        apply(namespace, detector("placed", replicas=3, affinity=affinity, topologySpreadConstraints=[rack],
                                  **placement(namespace)))
        wait_ready(namespace, "placed")
        spread = nodes_of(namespace, "placed")
        assert set(spread) == {big, small_1}, spread  # the user's affinity held, our spread still spread

        pod_spec = get_json(namespace, "deployment/placed-detector")["spec"]["template"]["spec"]
        assert pod_spec["affinity"]["nodeAffinity"] == affinity["nodeAffinity"]
        keys = [c["topologyKey"] for c in pod_spec["topologySpreadConstraints"]]
        assert keys == ["kubernetes.io/hostname", RACK]
        assert pod_spec["nodeSelector"] == {POOL: namespace}
