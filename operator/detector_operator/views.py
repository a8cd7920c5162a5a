"""What the operator keeps in memory of the objects it watches: small frozen views, not bodies.

Pure: each `of(body)` reduces a raw Kubernetes object to the few fields a decision needs, so
memory stays flat and equal views mean nothing changed. `Observed` is everything known about one
ObjectDetector at the moment a sync runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]  # (namespace, ObjectDetector name)


@dataclass(frozen=True)
class Detector:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]
    # Being deleted (deletionTimestamp set): a foreground deletion, as Argo CD's prune does,
    # removes the children first while the detector still exists.
    deleting: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Detector:
        meta = body["metadata"]
        return cls(
            namespace=meta["namespace"], name=meta["name"], uid=meta["uid"],
            generation=meta.get("generation", 0),
            spec=dict(body.get("spec") or {}), status=dict(body.get("status") or {}),
            deleting=bool(meta.get("deletionTimestamp")),
        )


@dataclass(frozen=True)
class ServiceView:
    """What the operator owns in a Service, to notice a hand edit (Services have no generation)."""

    type: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ServiceView:
        spec = body.get("spec") or {}
        return cls(
            type=spec.get("type", "ClusterIP"),
            selector=tuple(sorted((spec.get("selector") or {}).items())),
            ports=tuple(
                (p.get("name"), p.get("port"), p.get("targetPort"), p.get("protocol", "TCP"))
                for p in spec.get("ports") or []
            ),
        )


@dataclass(frozen=True)
class DeploymentView:
    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    # The Deployment controller's verdict: no new pod became available within
    # progressDeadlineSeconds (condition Progressing=False, reason ProgressDeadlineExceeded).
    progress_deadline_exceeded: bool = False

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> DeploymentView:
        status = body.get("status") or {}
        conditions = status.get("conditions") or []
        progressing: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Progressing"), {})
        return cls(
            generation=body.get("metadata", {}).get("generation", 0),
            observed_generation=status.get("observedGeneration", 0),
            replicas=status.get("replicas", 0),
            updated_replicas=status.get("updatedReplicas", 0),
            ready_replicas=status.get("readyReplicas", 0),
            available_replicas=status.get("availableReplicas", 0),
            progress_deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        )


@dataclass(frozen=True)
class GenerationView:
    """A child whose drift is told by its spec generation (PodDisruptionBudget, NetworkPolicy): a
    spec write by someone else moves it past the generation of our last apply."""

    generation: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> GenerationView:
        return cls(generation=body.get("metadata", {}).get("generation", 0))


@dataclass(frozen=True)
class PodView:
    name: str
    ready: bool
    unschedulable: str | None = None  # the scheduler's message
    init_failure: str | None = None  # the downloader's termination message
    server_failure: str | None = None  # the crashing server's termination message
    waiting: str | None = None  # e.g. "ImagePullBackOff: ..." while neither ready nor failing

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> PodView | None:
        """None for a pod on its way out: it says nothing about the current rollout."""
        if body.get("metadata", {}).get("deletionTimestamp"):
            return None
        status = body.get("status") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        scheduled = conds.get("PodScheduled", {})
        unschedulable = None
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            unschedulable = scheduled.get("message") or "no node fits the pod"
        return cls(
            name=body.get("metadata", {}).get("name", ""),
            ready=conds.get("Ready", {}).get("status") == "True",
            unschedulable=unschedulable,
            init_failure=_failure(status.get("initContainerStatuses") or [], init=True),
            server_failure=_failure(status.get("containerStatuses") or [], init=False),
            waiting=_waiting(status),
        )


def _termination_message(cs: Mapping[str, Any]) -> str:
    for state in (cs.get("state") or {}, cs.get("lastState") or {}):
        term = state.get("terminated")
        if term and term.get("exitCode", 0) != 0:
            text = (term.get("message") or "").strip() or term.get("reason") or "failed"
            return f"{text} (container {cs.get('name')}, exit code {term.get('exitCode')})"
    return f"container {cs.get('name')} keeps failing"


def _failure(statuses: Iterable[Mapping[str, Any]], *, init: bool) -> str | None:
    for cs in statuses:
        state = cs.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = state.get("terminated") or {}
        # An init container that exited non-zero is retried; CrashLoopBackOff is the same
        # failure between retries. The server counts from its first failed run until it is ready
        # again: between two back-offs it runs (unready), and the status would otherwise flip to
        # Deploying and back at every restart.
        last_failed = ((cs.get("lastState") or {}).get("terminated") or {}).get("exitCode", 0) != 0
        if (waiting == "CrashLoopBackOff" or (init and terminated.get("exitCode", 0) != 0)
                or (not init and last_failed and not cs.get("ready"))):
            return _termination_message(cs)
    return None


def _waiting(status: Mapping[str, Any]) -> str | None:
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in ("PodInitializing", "ContainerCreating", "CrashLoopBackOff"):
            message = waiting.get("message")
            return f"{reason}: {message}" if message else reason
    return None


@dataclass(frozen=True)
class Observed:
    """Everything the watches know about one ObjectDetector and its children.

    children: each watched kind's view by kind name (children.KINDS), None when absent; a tuple
    of views for kinds with several per detector (pods)."""

    detector: Detector | None
    children: Mapping[str, Any] = field(default_factory=dict)

    def view(self, kind: str) -> Any:
        return self.children.get(kind)

    def views(self, kind: str) -> tuple[Any, ...]:
        return tuple(self.children.get(kind) or ())
