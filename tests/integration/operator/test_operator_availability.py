"""A detector keeps serving while the platform changes things under it, on the real control plane
(API server, scheduler, controller-manager with its disruption and deployment controllers; kwok
nodes of each test's own, tests/support/nodes.py): replicas spread over nodes, the user's own
placement rules survive, a failed rollout leaves the old pods serving."""
from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import pytest

from detector_operator import builders, models
from detector_operator.builders import DETECTOR_LABEL as LABEL
from localprocs import wait_for
from tests.support.kube import apply, condition_of, detector, get_json, kubectl, wait_events, wait_ready, wait_reason
from tests.support.nodes import POOL, ReadyPods, node, placement, pool_nodes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# Every pool node carries it: a soft spread constraint on a key some nodes lack makes the
# scheduler skip those nodes for all of the pod's soft constraints (see availability.py).
RACK = "detector-test/rack"
# A single replica's drain must end, not hang on its budget: kubectl drain's own --timeout, so a
# drain the budget blocks fails the test. Generous: the eviction and the pod's removal (kwok deletes
# at once) take seconds, but more on a loaded machine; a hang is told from that all the same.
DRAIN_LIMIT = 120


def nodes_of(namespace: str, name: str) -> Counter[str]:
    pods = get_json(namespace, "pods", "-l", f"{LABEL}={name}")["items"]
    return Counter(p["spec"].get("nodeName", "") for p in pods if not p["metadata"].get("deletionTimestamp"))


def uneven_pool(namespace: str) -> list[dict]:
    """One big node the scheduler's resource scoring prefers for every pod, and two small ones:
    without a spread rule all replicas land on the big one."""
    return [node(f"{namespace}-big", namespace, cpu="64", memory="256Gi", labels={RACK: "r1"}),
            node(f"{namespace}-small-1", namespace, cpu="4", memory="16Gi", labels={RACK: "r2"}),
            node(f"{namespace}-small-2", namespace, cpu="4", memory="16Gi", labels={RACK: "r3"})]


def test_three_replicas_land_on_three_nodes_when_they_fit_though_no_node_has_a_zone_label(operator, namespace):
    # Zones are spread by a soft anti-affinity: a zone topology spread constraint would make the
    # scheduler skip every zone-less node for the hostname spread too (all 3 then land on "big").
    with pool_nodes(*uneven_pool(namespace)) as names:
        apply(namespace, detector("spread", replicas=3, **placement(namespace)))
        wait_ready(namespace, "spread")
        assert nodes_of(namespace, "spread") == Counter(dict.fromkeys(names, 1))


def test_the_users_constraints_and_affinity_survive_next_to_the_default_spread(operator, namespace):
    # A pod with constraints of its own gets none of the scheduler's default spread: without ours
    # all 3 land on "big".
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


def conditions(namespace: str, name: str) -> dict[str, tuple[str, str, str]]:
    od = get_json(namespace, f"od/{name}")
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in od["status"]["conditions"]}


def wait_rolled_out(namespace: str, name: str, generation: int, timeout: float = 120) -> None:
    def done() -> bool:
        od = get_json(namespace, f"od/{name}")
        progressing, ready = condition_of(od, "Progressing"), condition_of(od, "Ready")
        # The Deployment too: every replica of the new spec available, no old one left.
        dep = get_json(namespace, f"deployment/{builders.child_name(name)}")
        want = od["spec"]["replicas"]
        rolled = (dep["status"].get("observedGeneration") == dep["metadata"]["generation"]
                  and dep["status"].get("updatedReplicas") == dep["status"].get("availableReplicas") == want
                  and dep["status"].get("replicas") == want)
        return (od["status"].get("observedGeneration") == generation and progressing is not None
                and progressing["reason"] == "RolloutComplete" and ready["reason"] == "Serving" and rolled)
    wait_for(done, timeout=timeout, interval=0.2, message=f"{name} rolled out at generation {generation}")


def test_a_new_model_that_fails_keeps_the_old_pods_serving_until_the_spec_is_fixed(operator, namespace):
    pool = [node(f"{namespace}-{i}", namespace) for i in range(3)]
    with pool_nodes(*pool):
        base = {"replicas": 3, **placement(namespace)}
        apply(namespace, detector("rolling", modelUri="gs://models/v1.tar.gz", **base))
        wait_ready(namespace, "rolling")
        watch = ReadyPods(namespace, f"{LABEL}=rolling")
        try:
            # A good rollout of 3 replicas, timed from the apply to RolloutComplete.
            started = time.monotonic()
            apply(namespace, detector("rolling", modelUri="gs://models/v2.tar.gz", **base))
            wait_rolled_out(namespace, "rolling", generation=2)
            rolled_in = time.monotonic() - started

            # A new model that cannot be fetched: the new pod's init container crash-loops.
            message = "cannot fetch gs://models/v3.tar.gz: 404 Not Found"
            broken = detector("rolling", modelUri="gs://models/v3.tar.gz", podAnnotations={
                "kwok.x-k8s.io/simulate": "init-crashloop", "kwok.x-k8s.io/simulate-message": message}, **base)
            blocked_from = time.monotonic()
            apply(namespace, broken)
            wait_reason(namespace, "rolling", "RolloutBlocked", type_="Progressing", timeout=60)
            status = conditions(namespace, "rolling")
            assert status["Progressing"][0] == "False" and message in status["Progressing"][2]
            assert status["Ready"][:2] == ("True", "Serving") and "earlier spec" in status["Ready"][2]
            assert status["Degraded"][:2] == ("True", "ModelLoadFailed")
            od = get_json(namespace, "od/rolling")
            assert od["status"]["observedGeneration"] == 3 and od["status"]["readyReplicas"] == 3
            told = wait_events(namespace, "rolling", "RolloutBlocked")
            warnings = [e for e in told if e["reason"] == "RolloutBlocked"]
            assert len(warnings) == 1 and warnings[0]["type"] == "Warning" and message in warnings[0]["message"]
            assert watch.lowest_since(blocked_from) == 3, watch.history

            # Fixing the spec (as a Git revert would) rolls out and clears the block.
            apply(namespace, detector("rolling", modelUri="gs://models/v3-fixed.tar.gz", **base))
            wait_rolled_out(namespace, "rolling", generation=4)
            status = conditions(namespace, "rolling")
            assert status["Degraded"][:2] == ("False", "AsExpected")
            assert status["Ready"][2] == "3/3 replicas ready"
            assert watch.lowest_since(blocked_from) == 3, watch.history
        finally:
            watch.close()
        print(f"\nrollout of 3 replicas on kwok (apply to RolloutComplete): {rolled_in:.1f}s")


def wait_budget(namespace: str, name: str, *, healthy: int, allowed: int) -> None:
    """Until the operator has applied the detector's budget (as the builders emit it) and the
    disruption controller has computed it for the pods as they are."""
    od = get_json(namespace, f"od/{name}")
    owner = builders.Owner(name=name, namespace=namespace, uid=od["metadata"]["uid"])
    expected = builders.pod_disruption_budget(owner, models.parse_spec(od["spec"]))

    def computed() -> bool:
        found = kubectl("get", "-n", namespace, f"pdb/{builders.child_name(name)}", "-o", "json", check=False)
        if found.returncode != 0:
            return False
        pdb = json.loads(found.stdout)
        assert pdb["spec"] == expected["spec"] and pdb["metadata"]["ownerReferences"][0]["uid"] == owner.uid
        st = pdb.get("status") or {}
        return (st.get("observedGeneration") == pdb["metadata"]["generation"]
                and (st.get("currentHealthy"), st.get("disruptionsAllowed")) == (healthy, allowed))
    wait_for(computed, timeout=60, interval=0.3, message=f"the disruption budget of {name} computed")


def drain(node_name: str, timeout: int) -> tuple[subprocess.CompletedProcess, float]:
    """`kubectl drain` as an operator of the cluster runs it: cordon, then evict every pod
    through the Eviction API, retrying while a disruption budget refuses."""
    started = time.monotonic()
    result = kubectl("drain", node_name, "--ignore-daemonsets", "--delete-emptydir-data",
                     f"--timeout={timeout}s", check=False, timeout=timeout + 30)
    return result, time.monotonic() - started


def test_draining_a_node_holding_replicas_never_takes_a_three_replica_detector_below_two_ready(
        operator, namespace):
    with pool_nodes(node(f"{namespace}-first", namespace)) as (first,):
        apply(namespace, detector("drained", replicas=3, **placement(namespace)))
        wait_ready(namespace, "drained")
        assert nodes_of(namespace, "drained") == Counter({first: 3})  # the only node then
        with pool_nodes(node(f"{namespace}-second", namespace), node(f"{namespace}-third", namespace)) as others:
            wait_budget(namespace, "drained", healthy=3, allowed=1)
            watch = ReadyPods(namespace, f"{LABEL}=drained")
            try:
                wait_for(lambda: watch.count() == 3, timeout=30, message="the watch to see 3 ready pods")
                started = time.monotonic()
                result, took = drain(first, timeout=180)
                assert result.returncode == 0, result.stderr
                wait_for(lambda: watch.count() == 3, timeout=60, message="3 ready pods again")
                lowest = watch.lowest_since(started)
            finally:
                watch.close()
            assert lowest >= 2, f"the drain took the detector down to {lowest} ready: {watch.history}"
            assert set(nodes_of(namespace, "drained")) <= set(others)
            print(f"\ndrain of a node holding 3 replicas: {took:.1f}s, never below {lowest} ready")


def test_draining_the_node_of_a_single_replica_detector_completes_promptly(operator, namespace):
    with pool_nodes(node(f"{namespace}-first", namespace)) as (first,):
        apply(namespace, detector("single", replicas=1, **placement(namespace)))
        (od,) = wait_ready(namespace, "single")
        assert "a node drain stops serving" in condition_of(od, "Ready")["message"]
        with pool_nodes(node(f"{namespace}-second", namespace)) as (second,):
            wait_budget(namespace, "single", healthy=1, allowed=1)
            result, took = drain(first, timeout=DRAIN_LIMIT)
            assert result.returncode == 0, result.stderr  # ended within DRAIN_LIMIT (kubectl's --timeout)
            wait_ready(namespace, "single")
            assert nodes_of(namespace, "single") == Counter({second: 1})
            print(f"\ndrain of the node of a single replica: {took:.1f}s")
