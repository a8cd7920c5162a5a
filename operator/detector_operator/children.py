"""The kinds of object an ObjectDetector owns or watches, declared once.

Pure. Every other part loops over `KINDS`: kube.py takes its API paths from it, handlers.py
registers one kopf index and one watch per row, sync.py builds, applies, judges drift and
repairs per row, status reads the views it indexes, and rbacgen.py grants each row exactly the
verbs its role needs. Adding a child kind is one builder (builders.py), one view (views.py) and
one row here; nothing reaches a child by its position in a list.
(controller-runtime's `Owns(&appsv1.Deployment{})` chain with its RBAC markers is the model.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from detector_operator import builders, models
from detector_operator.settings import Settings
from detector_operator.views import DeploymentView, GenerationView, PodView, ServiceView

# builder(owner, spec, settings) -> the manifest, or None (optional kinds only: not wanted for
# this spec, so an existing one is deleted).
Builder = Callable[[builders.Owner, models.ObjectDetectorSpec, Settings], dict[str, Any] | None]
# view(body) -> what a decision needs of a watched object; None leaves it out of the index.
View = Callable[[Mapping[str, Any]], Any]
# drifted(desired manifest, seen view, metadata.generation of our last apply) -> someone else
# changed it, so it must be applied again.
Drifted = Callable[[dict[str, Any], Any, int], bool]
# repair_patch(desired manifest, seen view) -> a merge patch to send before the apply, for what
# server-side apply cannot take back on its own; None when nothing needs it.
RepairPatch = Callable[[dict[str, Any], Any], dict[str, Any] | None]


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: what kube.py needs to build a path."""

    api: str  # "/api/v1" or "/apis/<group>/<version>"
    plural: str
    namespaced: bool = True


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    index: str  # the kopf index (and handler id) holding this kind's views by detector
    view: View
    # None: watched only, never built (the pods, which the Deployment makes).
    build: Builder | None = None
    # The builder may return None for a spec that wants no such child: an existing one is deleted.
    optional: bool = False
    drifted: Drifted | None = None
    repair_patch: RepairPatch | None = None
    # Several per detector (pods): the index keeps them all and a sync sees a tuple.
    many: bool = False
    # Why the operator touches this kind: the comment above its rule in the generated RBAC.
    why: str = ""
    # The child's name for a detector's name (a built kind's object the sync may delete).
    name_of: Callable[[str], str] = builders.child_name

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> Resource:
        return Resource(f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}", self.plural)

    @property
    def selector(self) -> tuple[str, str] | tuple[str, str, str]:
        """kopf's resource selector: (group, version, plural), or (version, plural) for core."""
        return (self.group, self.version, self.plural) if self.group else (self.version, self.plural)

    @property
    def verbs(self) -> list[str]:
        """RBAC: watched into an index (list, watch); built ones are server-side applied (patch,
        and create for the first apply); optional ones are also deleted when not wanted."""
        if self.build is None:
            return ["list", "watch"]
        return ["list", "watch", "create", "patch", *(["delete"] if self.optional else [])]

    @property
    def repaired_when_deleted(self) -> bool:
        """A deletion of one of these is drift to repair at once (the pods are the Deployment's)."""
        return self.build is not None


def generation_moved(desired: dict[str, Any], seen: Any, applied_generation: int) -> bool:
    """For kinds with a spec generation: any spec write by someone else bumps it past ours."""
    return bool(seen.generation > applied_generation)


def view_differs(view: View) -> Drifted:
    """For kinds without a generation (Services, ConfigMaps): what we own looks different."""
    def drifted(desired: dict[str, Any], seen: Any, applied_generation: int) -> bool:
        return bool(seen != view(desired))
    return drifted


def service_repair_patch(desired: dict[str, Any], seen: ServiceView) -> dict[str, Any] | None:
    """A merge patch that puts the Service's ports, selector and type back exactly; None when
    they are as desired.

    Apply alone cannot: a port whose key (port, protocol) was changed by hand belongs to that
    editor's field manager, so apply would keep it next to ours (and both named http is invalid).
    """
    if seen == ServiceView.of(desired):
        return None
    spec = desired["spec"]
    selector: dict[str, Any] = {k: None for k, _ in seen.selector if k not in spec["selector"]}
    selector.update(spec["selector"])
    return {"spec": {"type": spec["type"], "ports": spec["ports"], "selector": selector}}


SERVICE = Kind(
    "Service", "", "v1", "services", index="services", view=ServiceView.of,
    build=lambda owner, spec, settings: builders.service(owner, spec),
    drifted=view_differs(ServiceView.of), repair_patch=service_repair_patch,
    why="the Service in front of the pods, watched into an index and kept in shape by server-side "
        "apply (patch; create for the first apply). Deletion is the garbage collector's job.",
)
DEPLOYMENT = Kind(
    "Deployment", "apps", "v1", "deployments", index="deployments", view=DeploymentView.of,
    build=builders.deployment, drifted=generation_moved,
    why="the server pods' Deployment, watched into an index and kept in shape by server-side "
        "apply (patch; create for the first apply). Deletion is the garbage collector's job.",
)
DISRUPTION_BUDGET = Kind(
    "PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", index="disruptionbudgets",
    view=GenerationView.of, build=lambda owner, spec, settings: builders.pod_disruption_budget(owner, spec),
    drifted=generation_moved,
    why="the pods' disruption budget (node drains evict one replica at a time), watched into an index "
        "and kept in shape by server-side apply (patch; create for the first apply). Deletion is the "
        "garbage collector's job.",
)
NETWORK_POLICY = Kind(
    "NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", index="networkpolicies",
    view=GenerationView.of, build=builders.network_policy, optional=True, drifted=generation_moved,
    why="who may reach the detector's pods (spec.networkPolicy), watched into an index and kept in "
        "shape by server-side apply (patch; create for the first apply); deleted when "
        "spec.networkPolicy.enabled is false.",
)
POD = Kind(
    "Pod", "", "v1", "pods", index="pods", view=PodView.of, many=True,
    why="read the server pods to tell ModelLoadFailed, Unschedulable and crash loops apart.",
)

# In apply order (the children do not depend on each other; the order only makes logs and
# tests predictable).
KINDS: list[Kind] = [SERVICE, DEPLOYMENT, DISRUPTION_BUDGET, NETWORK_POLICY, POD]


def built() -> list[Kind]:
    return [k for k in KINDS if k.build is not None]


def desired(
    owner: builders.Owner, spec: models.ObjectDetectorSpec, settings: Settings
) -> dict[str, dict[str, Any] | None]:
    """Every built kind's manifest for one ObjectDetector, by kind, in apply order; None for an
    optional kind this spec does not want."""
    out: dict[str, dict[str, Any] | None] = {}
    for child in built():
        assert child.build is not None
        obj = child.build(owner, spec, settings)
        if obj is None and not child.optional:
            raise ValueError(f"the builder of {child.kind} returned None, but the kind is not optional")
        out[child.kind] = obj
    return out


def desired_objects(
    owner: builders.Owner, spec: models.ObjectDetectorSpec, settings: Settings
) -> list[dict[str, Any]]:
    """Everything the operator applies for one ObjectDetector, in apply order."""
    return [obj for obj in desired(owner, spec, settings).values() if obj is not None]
