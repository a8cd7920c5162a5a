"""A child kind is one builder, one view and one row in children.KINDS: this test adds a throwaway
kind (a ConfigMap, optional: wanted only while the detector has replicas) to the table, and
nothing else, and shows that the watch registration, kube.py's paths, the sync (apply, drift
repair, re-creation, deletion when not wanted) and the RBAC generator all pick it up."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from detector_operator import builders, children, handlers, kube, models, rbacgen
from detector_operator.settings import Settings
from detector_operator.views import Detector, Observed

from .test_operator_sync import KEY, Operator, RecordingKube, World, settled


def config_map(owner: builders.Owner, spec: models.ObjectDetectorSpec, settings: Settings) -> dict[str, Any] | None:
    if spec.replicas == 0:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": builders.metadata(owner),
            "data": {"model": spec.model_uri}}


def config_map_view(body: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((body.get("data") or {}).items()))


CONFIG_MAP = children.Kind(
    "ConfigMap", "", "v1", "configmaps", index="configmaps", view=config_map_view, build=config_map,
    optional=True, drifted=children.view_differs(config_map_view), why="a throwaway child kind for this test.")


class DeletingKube(RecordingKube):
    async def delete(self, resource, namespace, name):
        self.calls.append(("delete", resource.plural, name))


class WorldWithConfigMap(World):
    def __init__(self) -> None:
        super().__init__()
        self.config_map: tuple[tuple[str, str], ...] | None = None

    def lookup(self, key):
        seen = super().lookup(key)
        return Observed(seen.detector, {**seen.children, "ConfigMap": self.config_map})

    def children_appear(self, generation=1):
        super().children_appear(generation)
        self.config_map = (("model", "gs://b/m"),)


@pytest.fixture
def with_config_map(monkeypatch):
    monkeypatch.setattr(children, "KINDS", [*children.KINDS, CONFIG_MAP])


@pytest.fixture
def setup(with_config_map):
    world, client = WorldWithConfigMap(), DeletingKube()
    op = Operator(client, world)
    yield world, client, op
    op.queue.close()
    op.syncer.close()


async def test_a_new_kind_in_the_table_is_applied_with_the_others(setup):
    _, client, op = setup
    await op.request(KEY)
    applied = [c[1] for c in client.calls if c[0] == "apply"]
    assert applied == [*(k.kind for k in children.built() if k.kind != "ConfigMap"), "ConfigMap"]
    assert ("event", "Created") in client.calls


async def test_a_new_kind_edited_by_someone_else_is_repaired(setup):
    world, client, op = setup
    await settled(setup)
    await op.request(KEY)
    assert client.writes() == []  # as desired: nothing to do
    world.config_map = (("model", "gs://someone/else"),)
    await op.request(KEY)
    assert ("apply", "ConfigMap") in client.calls and ("event", "DriftRepaired") in client.calls


async def test_a_new_kind_deleted_by_hand_is_recreated(setup):
    world, client, op = setup
    await settled(setup)
    world.config_map = None
    op.child_deleted(KEY, "ConfigMap")
    await op.request(KEY)
    assert ("apply", "ConfigMap") in client.calls and ("event", "DriftRepaired") in client.calls


async def test_an_optional_kind_the_spec_no_longer_wants_is_deleted(setup):
    world, client, op = setup
    await settled(setup)
    world.detector = Detector("ns", "cams", "u1", 2, {"modelUri": "gs://b/m", "replicas": 0}, {})
    await op.request(KEY)
    assert ("delete", "configmaps", "cams-detector") in client.calls
    assert ("apply", "ConfigMap") not in client.calls and ("apply", "Deployment") in client.calls


def test_rbac_generation_grants_the_new_kind_its_verbs(with_config_map):
    for scope in ("cluster", "namespaced"):
        rules = {(r.group, r.resource): r.verbs for r in rbacgen.rules(scope)}
        assert rules[("", "configmaps")] == ("list", "watch", "create", "patch", "delete")
        assert "  - apiGroups: [\"\"]\n    resources: [configmaps]\n" in rbacgen.render(scope)


def test_kube_paths_and_the_watches_come_from_the_table(with_config_map):
    assert kube.path("ConfigMap", "ns", "a") == "/api/v1/namespaces/ns/configmaps/a"
    registry = kopf.OperatorRegistry()
    handlers.watch_child(CONFIG_MAP, registry=registry)
    (index,) = registry._indexing.get_all_handlers()
    (event,) = registry._watching.get_all_handlers()
    assert index.id == "configmaps" and index.selector.any_name == event.selector.any_name == "configmaps"
    body = {"metadata": {"name": "cams-detector"}, "data": {"model": "gs://b/m"}}
    assert index.fn(namespace="ns", labels={builders.DETECTOR_LABEL: "cams"}, body=body) == {
        KEY: (("model", "gs://b/m"),)}
