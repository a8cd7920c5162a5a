"""How few status writes and Events a rollout costs, and that what matters is never late.

The Syncer is given a recording `later` (the work queue's request_later) and a settable clock,
so the rules are checked without waiting; the real queue and API server are exercised in
tests/integration/operator."""
from __future__ import annotations

import pytest

from detector_operator import sync
from detector_operator.settings import Settings
from detector_operator.sync import Syncer
from detector_operator.views import DeploymentView, Detector, Observed, PodView

from .test_operator_sync import KEY, RecordingKube, World


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self) -> None:
        self.world, self.client, self.clock = World(), RecordingKube(), Clock()
        self.pods: list[PodView] = []
        self.later: list[tuple[tuple[str, str], float]] = []
        self.syncer = Syncer(self.client, Settings(), self.lookup, clock=lambda: "2026-01-01T00:00:00Z",
                             later=lambda key, delay: self.later.append((key, delay)), monotonic=self.clock)

    def lookup(self, key):
        seen = self.world.lookup(key)
        return Observed(seen.detector, {**seen.children, "Pod": tuple(self.pods)})

    async def sync(self):
        await self.syncer.sync(KEY)
        await self.syncer.drain()

    def writes(self):
        return self.client.writes()

    def rollout(self, *, pods: int, ready: int, generation: int = 1):
        self.world.deployment = DeploymentView(generation, generation, pods, pods, ready, ready)


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    harness.syncer.close()


async def test_after_creating_the_children_the_status_waits_for_the_clusters_answer(h):
    await h.sync()
    assert h.writes() == [("apply", "Service"), ("apply", "Deployment"), ("apply", "PodDisruptionBudget"),
                          ("apply", "NetworkPolicy"), ("event", "Created")]
    assert h.later == [(KEY, sync.SETTLE_SECONDS)]
    h.world.children_appear()  # by then the pod is ready (kwok, a small model)
    await h.sync()
    assert h.writes()[5:] == [("status", "Serving")]  # one status write, no second Event


async def test_progress_details_wait_but_a_reason_change_is_written_at_once(h):
    await h.sync()
    h.world.children_appear()
    h.rollout(pods=0, ready=0)
    await h.sync()  # first status: Deploying
    h.client.calls.clear()
    h.rollout(pods=1, ready=0)  # a pod exists now: only a count and a message changed
    await h.sync()
    assert h.writes() == [] and h.later[-1] == (KEY, pytest.approx(sync.DETAIL_SECONDS))
    h.clock.now += sync.DETAIL_SECONDS  # the delayed sync comes
    await h.sync()
    assert h.writes() == [("status", "Deploying")]
    h.client.calls.clear()
    h.rollout(pods=1, ready=1)  # Ready flips: written at once, whatever the time
    await h.sync()
    assert h.writes() == [("status", "Serving")]


async def test_failures_and_changes_the_operator_did_not_cause_get_events(h):
    await h.sync()
    h.world.children_appear()
    await h.sync()  # Serving, quietly: the Created Event told of it
    assert [c for c in h.writes() if c[0] == "event"] == [("event", "Created")]
    h.client.calls.clear()
    h.rollout(pods=1, ready=0)  # the pod died by itself: that is news
    await h.sync()
    assert ("event", "Deploying") in h.writes()
    h.client.calls.clear()
    h.pods = [PodView("p1", ready=False, unschedulable="0/4 nodes are available")]
    await h.sync()
    assert ("event", "Unschedulable") in h.writes()
    h.client.calls.clear()
    h.pods = []
    h.rollout(pods=1, ready=1)
    await h.sync()
    assert ("event", "Serving") in h.writes()  # recovered


async def test_a_spec_change_is_announced_once_and_its_rollout_quietly_followed(h):
    await h.sync()
    h.world.children_appear()
    await h.sync()
    h.client.calls.clear()
    h.world.detector = Detector("ns", "cams", "u1", 2, {"modelUri": "gs://b/other"}, {})
    h.client.generation = 2  # what the API server answers the apply with
    await h.sync()
    assert [c for c in h.writes() if c[0] == "event"] == [("event", "Updated")]
    h.rollout(pods=1, ready=0, generation=2)
    await h.sync()
    h.rollout(pods=1, ready=1, generation=2)
    await h.sync()
    assert [c for c in h.writes() if c[0] == "event"] == [("event", "Updated")]
    assert [c for c in h.writes() if c[0] == "status"][-1] == ("status", "Serving")


async def test_a_blocked_rollout_gets_one_warning_event_though_ready_stays_serving(h):
    await h.sync()
    h.world.children_appear()
    await h.sync()
    h.world.detector = Detector("ns", "cams", "u1", 2, {"modelUri": "gs://b/broken"}, {})
    h.client.generation = 2
    await h.sync()
    h.client.calls.clear()
    # One new pod fails in its init container; the old one keeps serving.
    h.world.deployment = DeploymentView(2, 2, 2, 1, 1, 1)
    h.pods = [PodView("old", ready=True), PodView("new", ready=False, init_failure="403 Forbidden")]
    await h.sync()
    await h.sync()
    assert [c for c in h.writes() if c[0] == "event"] == [("event", "RolloutBlocked")]
    assert [c for c in h.writes() if c[0] == "status"] == [("status", "Serving")]
