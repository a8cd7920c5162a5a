"""The sync's decisions, with a recording stand-in for the API client (narrow unit test; the real
client and API server are exercised in tests/integration/operator)."""
from __future__ import annotations

import pytest

from detector_operator import kube
from detector_operator.settings import Settings
from detector_operator.sync import Syncer
from detector_operator.views import (
    DeploymentView,
    Detector,
    GenerationView,
    Observed,
    ServiceView,
)
from detector_operator.workqueue import WorkQueue

KEY = ("ns", "cams")


class RecordingKube:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.fail_apply: Exception | None = None
        self.generation = 1
        self.exists = True
        self.deleting = False
        self.secrets: dict[str, dict[str, str]] = {}  # name -> labels

    async def apply(self, obj):
        if self.fail_apply:
            raise self.fail_apply
        self.calls.append(("apply", obj["kind"]))
        return {"metadata": {"generation": self.generation}}

    async def merge_patch(self, obj, patch):
        self.calls.append(("merge_patch", obj["kind"]))
        self.last_merge_patch = patch
        return {}

    async def patch_status(self, namespace, name, status):
        self.calls.append(("status", status["conditions"][0]["reason"]))
        return {}

    async def post_event(self, involved, *, reason, message, warning=False):
        self.calls.append(("event", reason))

    async def get(self, kind, namespace, name):
        self.calls.append(("get", kind))
        meta = {"uid": "u1", **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if self.deleting else {})}
        return {"metadata": meta} if self.exists else None

    async def get_metadata(self, kind, namespace, name):
        self.calls.append(("get", kind))
        labels = self.secrets.get(name)
        return None if labels is None else {"metadata": {"name": name, "labels": labels}}

    def writes(self):
        return [c for c in self.calls if c[0] != "get"]


class World:
    """What the watches would show."""

    def __init__(self) -> None:
        self.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "gs://b/m"}, {})
        self.deployment: DeploymentView | None = None
        self.service: ServiceView | None = None
        self.budget: GenerationView | None = None
        self.network_policy: GenerationView | None = None

    def lookup(self, key):
        return Observed(self.detector if key == KEY else None,
                        {"Deployment": self.deployment, "Service": self.service,
                         "PodDisruptionBudget": self.budget,
                         "NetworkPolicy": self.network_policy, "Pod": ()})

    def children_appear(self, generation=1):
        self.deployment = DeploymentView(generation, generation, 1, 1, 1, 1)
        self.budget = GenerationView(generation)
        self.network_policy = GenerationView(generation)
        self.service = ServiceView("ClusterIP", (("app.kubernetes.io/name", "object-detector"),
                                                 ("vision.mlops.dev/detector", "cams")),
                                   (("http", 8080, "http", "TCP"), ("grpc", 9000, "grpc", "TCP")))


class Operator:
    """The syncer behind its work queue, as handlers.py wires them; `request` also waits for the
    Events posted in the background, so assertions see them."""

    def __init__(self, client, world, settings=None, **queue_options):
        self.syncer = Syncer(client, settings or Settings(), world.lookup, clock=lambda: "2026-01-01T00:00:00Z")
        self.queue = WorkQueue(self.syncer.run, **queue_options)

    async def request(self, key):
        await self.queue.request(key)
        await self.syncer.drain()

    def child_deleted(self, key, kind):
        self.syncer.child_deleted(key, kind)


@pytest.fixture
def setup():
    world, client = World(), RecordingKube()
    rec = Operator(client, world)
    yield world, client, rec
    rec.queue.close()
    rec.syncer.close()


async def settled(setup):
    """The detector synced once, its children then seen by the watches, synced again: the steady
    state a user's later edits start from. The calls so far are forgotten."""
    world, client, rec = setup
    await rec.request(KEY)
    world.children_appear()
    await rec.request(KEY)
    client.calls.clear()


async def test_first_sync_creates_children_records_an_event_and_writes_status(setup):
    _, client, rec = setup
    await rec.request(KEY)
    # The Created Event already tells of the rollout: no second Event for "Deploying".
    assert client.writes() == [("apply", "Service"), ("apply", "Deployment"), ("apply", "PodDisruptionBudget"),
                               ("apply", "NetworkPolicy"), ("status", "Deploying"),
                               ("event", "Created")]


async def test_nothing_changed_means_no_writes(setup):
    _, client, rec = setup
    await settled(setup)
    for _ in range(3):
        await rec.request(KEY)
    assert client.writes() == []


async def test_restarted_operator_reapplies_quietly_and_keeps_a_correct_status(setup):
    world, client, rec = setup
    world.children_appear()
    await rec.request(KEY)
    written = [c for c in client.writes() if c[0] == "status"]
    assert ("event", "Created") not in client.calls and written == [("status", "Serving")]


async def test_spec_change_is_applied_with_an_updated_event(setup):
    world, client, rec = setup
    await settled(setup)
    world.detector = Detector("ns", "cams", "u1", 2, {"modelUri": "gs://b/other"}, {})
    await rec.request(KEY)
    assert ("apply", "Deployment") in client.calls and ("event", "Updated") in client.calls


async def test_deleted_child_is_recreated_after_checking_its_owner_still_exists(setup):
    world, client, rec = setup
    await settled(setup)
    world.deployment = None
    rec.child_deleted(KEY, "Deployment")
    await rec.request(KEY)
    assert client.calls[:3] == [("get", "ObjectDetector"), ("apply", "Service"), ("apply", "Deployment")]
    assert ("event", "DriftRepaired") in client.calls


async def test_children_deleted_with_their_owner_are_not_recreated(setup):
    _, client, rec = setup
    await rec.request(KEY)
    client.calls.clear()
    client.exists = False
    rec.child_deleted(KEY, "Deployment")
    await rec.request(KEY)
    assert client.writes() == []


async def test_children_of_a_detector_being_deleted_are_not_recreated(setup):
    # Foreground deletion (Argo CD's prune): the garbage collector deletes the children while
    # the detector still exists with a deletionTimestamp; re-creating them would fight it.
    world, client, rec = setup
    await settled(setup)
    client.deleting = True
    world.deployment = None
    rec.child_deleted(KEY, "Deployment")
    await rec.request(KEY)
    assert client.writes() == []


async def test_a_detector_seen_deleting_gets_no_apply_and_no_status(setup):
    world, client, rec = setup
    world.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "gs://b/m"}, {}, deleting=True)
    await rec.request(KEY)
    assert client.calls == []


async def test_deployment_edited_by_someone_else_is_reapplied(setup):
    world, client, rec = setup
    await settled(setup)
    world.children_appear(generation=2)  # e.g. `kubectl scale deploy` bumped the generation
    await rec.request(KEY)
    assert ("apply", "Deployment") in client.calls and ("event", "DriftRepaired") in client.calls


async def test_service_edited_by_someone_else_is_reapplied(setup):
    world, client, rec = setup
    await settled(setup)
    world.service = ServiceView("NodePort", (*world.service.selector, ("extra", "x")),
                                (("http", 9999, "http", "TCP"),))
    await rec.request(KEY)
    assert client.calls[:2] == [("merge_patch", "Service"), ("apply", "Service")]
    # Lists replaced whole, foreign selector keys removed: apply alone would keep both.
    assert client.last_merge_patch["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}]
    assert client.last_merge_patch["spec"]["selector"]["extra"] is None
    assert client.last_merge_patch["spec"]["type"] == "ClusterIP"


async def test_child_rejected_by_the_api_server_is_invalid_spec_without_hot_loop(setup):
    _, client, rec = setup
    client.fail_apply = kube.Invalid(422, "Invalid", 'quantities must match the regular expression')
    await rec.request(KEY)
    assert ("status", "InvalidSpec") in client.calls and ("event", "InvalidSpec") in client.calls
    client.calls.clear()
    await rec.request(KEY)
    assert client.writes() == []


async def test_invalid_spec_writes_status_and_applies_nothing(setup):
    world, client, rec = setup
    world.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "ftp://x"}, {})
    await rec.request(KEY)
    assert [c for c in client.calls if c[0] == "apply"] == []
    assert ("status", "InvalidSpec") in client.calls


async def test_unreachable_api_server_is_retried_with_backoff_and_the_retry_repairs(setup):
    world, client, _ = setup
    scheduled = []
    rec = Operator(client, world, schedule=lambda delay, callback: scheduled.append((delay, callback)) or _Handle(),
                   random=lambda: 0.5)  # no jitter: 2 * 0.5 - 1 == 0
    await rec.request(KEY)
    world.children_appear(generation=2)
    client.fail_apply = kube.Unavailable(0, "ClientConnectorError", "connection refused")
    await rec.request(KEY)
    assert [d for d, _ in scheduled] == [1.0] and rec.queue.backoff(KEY) == 1.0
    client.fail_apply = None
    client.calls.clear()
    scheduled.pop()[1]()  # the timer fires
    await rec.queue.drain()
    assert ("apply", "Deployment") in client.calls and rec.queue.backoff(KEY) == 0.0


class _Handle:
    def cancel(self):
        pass


async def test_a_spec_the_settings_forbid_is_forbidden_with_a_warning_and_nothing_applied(setup):
    world, client, rec = setup
    world.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "gs://b/m", "image": "attacker/exfil:1",
                                                      "serviceType": "LoadBalancer"}, {})
    await rec.request(KEY)
    assert client.writes() == [("status", "Forbidden"), ("event", "Forbidden")]
    # Settled: no hot loop, no second Event.
    client.calls.clear()
    await rec.request(KEY)
    assert client.writes() == []


async def test_a_forbidden_change_leaves_the_running_children_as_they_are(setup):
    world, client, rec = setup
    await rec.request(KEY)
    world.children_appear()
    await rec.request(KEY)
    client.calls.clear()
    world.detector = Detector("ns", "cams", "u1", 2, {"modelUri": "gs://b/m", "serviceType": "NodePort"}, {})
    await rec.request(KEY)
    assert client.writes() == [("status", "Forbidden"), ("event", "Forbidden")]
    # Back to an allowed spec equal to the applied one: nothing to apply, serving again.
    world.detector = Detector("ns", "cams", "u1", 3, {"modelUri": "gs://b/m"}, {})
    client.calls.clear()
    await rec.request(KEY)
    assert client.writes() == [("status", "Serving"), ("event", "Serving")]


async def test_a_credentials_secret_needs_the_opt_in_label_and_is_looked_at_again(setup):
    world, client, _ = setup
    later = []
    rec = Operator(client, world)
    rec.syncer.later = lambda key, seconds: later.append(seconds)
    world.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "gs://b/m", "credentialsSecret": "prod-db"}, {})
    client.secrets["prod-db"] = {"team": "payments"}
    await rec.request(KEY)
    assert ("apply", "Deployment") not in client.calls
    assert ("status", "Forbidden") in client.calls and ("event", "Forbidden") in client.calls
    assert 30.0 in later  # Secrets are not watched: look again
    client.secrets["prod-db"] = {"vision.mlops.dev/detector-credentials": "true"}
    client.calls.clear()
    await rec.request(KEY)
    assert ("apply", "Deployment") in client.calls and ("event", "Created") in client.calls
    rec.queue.close()
    rec.syncer.close()


async def test_without_an_opt_in_label_setting_the_secret_is_not_read(setup):
    world, client, _ = setup
    rec = Operator(client, world, settings=Settings.from_env({"DETECTOR_SECRET_OPT_IN_LABEL": "*"}))
    world.detector = Detector("ns", "cams", "u1", 1, {"modelUri": "gs://b/m", "credentialsSecret": "s3"}, {})
    await rec.request(KEY)
    assert ("get", "Secret") not in client.calls and ("apply", "Deployment") in client.calls
    rec.queue.close()
    rec.syncer.close()
