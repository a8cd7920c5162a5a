"""One level-triggered sync per ObjectDetector: desired children -> apply -> status.

No kopf here: handlers.py feeds events in and supplies `lookup`, a view of what the watches have
seen. `Reconciler.request(key)` coalesces bursts (ten pod events while a sync runs cause one more
sync, not ten), applies children only when something calls for it (a new spec, a child deleted
or edited by someone else, or nothing recorded yet after a start), and writes status only when
it differs from the last status written. An idle cluster therefore costs no writes.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from detector_operator import builders, conditions, kube, models
from detector_operator.settings import Settings

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, ObjectDetector name)
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Detector:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]


@dataclass(frozen=True)
class ServiceView:
    """What the operator owns in a Service, to notice a hand edit (Services have no generation)."""

    type: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, body: dict[str, Any]) -> ServiceView:
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
class Observed:
    """Everything the watches know about one ObjectDetector and its children."""

    detector: Detector | None
    deployment: conditions.DeploymentView | None
    service: ServiceView | None
    pods: list[conditions.PodView]


@dataclass
class State:
    """What this process last did for one ObjectDetector (lost on restart, which is fine: a
    fresh process re-applies once and compares status with what is stored)."""

    uid: str
    digest: str = ""
    deployment_generation: int = 0
    apply_error: str | None = None
    deleted: set[str] = field(default_factory=set)
    last_status: dict[str, Any] | None = None
    backoff: float = 0.0
    retry: asyncio.TimerHandle | None = None


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_of(objects: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


def service_repair_patch(desired: dict[str, Any], seen: ServiceView) -> dict[str, Any]:
    """A merge patch that puts the Service's ports, selector and type back exactly.

    Apply alone cannot: a port whose key (port, protocol) was changed by hand belongs to that
    editor's field manager, so apply would keep it next to ours (and both named http is invalid).
    """
    spec = desired["spec"]
    selector: dict[str, Any] = {k: None for k, _ in seen.selector if k not in spec["selector"]}
    selector.update(spec["selector"])
    return {"spec": {"type": spec["type"], "ports": spec["ports"], "selector": selector}}


def why_apply(state: State | None, digest: str, seen: Observed, desired_service: dict[str, Any]) -> tuple[str, str] | None:
    """(event reason, message) when the children must be applied; None when they are as applied."""
    name = builders.child_name(seen.detector.name) if seen.detector else "?"
    if state is None or not state.digest:
        if seen.deployment is None or seen.service is None:
            return "Created", f"creating Deployment and Service {name}"
        return "Resynced", ""  # first sync of this process: re-assert, quietly
    if state.digest != digest:
        generation = seen.detector.generation if seen.detector else "?"
        return "Updated", f"applied generation {generation} to Deployment and Service {name}"
    if state.deleted:
        kinds = " and ".join(sorted(state.deleted))
        return "DriftRepaired", f"{kinds} {name} was deleted; re-created it"
    if seen.deployment and seen.deployment.generation > state.deployment_generation:
        return "DriftRepaired", f"Deployment {name} was changed by someone else; re-applied the operator's fields"
    if seen.service and seen.service != ServiceView.of(desired_service):
        return "DriftRepaired", f"Service {name} was changed by someone else; re-applied the operator's fields"
    return None


class Reconciler:
    def __init__(
        self,
        kube_client: kube.Kube,
        settings: Settings,
        lookup: Callable[[Key], Observed],
        *,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.kube = kube_client
        self.settings = settings
        self.lookup = lookup
        self.clock = clock
        self.states: dict[Key, State] = {}
        self.running: set[Key] = set()
        self.dirty: set[Key] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    # --- entry points for the framework layer ---

    def child_deleted(self, key: Key, kind: str) -> None:
        state = self.states.get(key)
        if state:
            state.deleted.add(kind)

    async def request(self, key: Key) -> None:
        """Sync `key` now, or once more after the sync already running for it."""
        if key in self.running:
            self.dirty.add(key)
            return
        self.running.add(key)
        try:
            while True:
                self.dirty.discard(key)
                await self._sync_safely(key)
                if key not in self.dirty:
                    break
        finally:
            self.running.discard(key)

    async def drain(self) -> None:
        """Wait for background Events (tests, shutdown)."""
        me = asyncio.current_task()
        while pending := [t for t in self.tasks if t is not me]:
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        for state in self.states.values():
            if state.retry:
                state.retry.cancel()
        for task in self.tasks:
            task.cancel()

    # --- internals ---

    async def _sync_safely(self, key: Key) -> None:
        try:
            await self.sync(key)
        except kube.Forbidden as e:
            if e.namespace_terminating:
                self.forget(key)
                return
            self._retry_later(key, e)
        except kube.NotFound as e:
            # The ObjectDetector went away while we worked; its children go by garbage collection.
            log.info("%s/%s is gone (%s)", *key, e.message)
            self.forget(key)
        except Exception as e:  # never let one object take the operator down
            if not isinstance(e, kube.KubeError):
                log.exception("sync of %s/%s failed", *key)
            self._retry_later(key, e)
        else:
            state = self.states.get(key)
            if state:
                state.backoff = 0.0
                if state.retry:
                    state.retry.cancel()
                    state.retry = None

    def _retry_later(self, key: Key, error: Exception) -> None:
        state = self.states.get(key)
        if state is None:
            return
        state.backoff = min(MAX_BACKOFF, state.backoff * 2 or 1.0)
        log.warning("sync of %s/%s failed (%s); retrying in %.0fs", *key, error, state.backoff)
        if state.retry:
            state.retry.cancel()
        state.retry = asyncio.get_running_loop().call_later(state.backoff, self._spawn, key)

    def _spawn(self, key: Key) -> None:
        self._background(self.request(key))

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _event(self, involved: dict[str, str], **kwargs: Any) -> None:
        # Events are best effort and never worth delaying a sync for.
        self._background(self.kube.post_event(involved, **kwargs))

    def forget(self, key: Key) -> None:
        state = self.states.pop(key, None)
        if state and state.retry:
            state.retry.cancel()

    async def sync(self, key: Key) -> None:
        seen = self.lookup(key)
        od = seen.detector
        if od is None:
            self.forget(key)
            return
        state = self.states.get(key)
        if state is None or state.uid != od.uid:
            if state and state.retry:
                state.retry.cancel()
            state = None
        owner = builders.Owner(name=od.name, namespace=od.namespace, uid=od.uid)
        involved = {"name": od.name, "namespace": od.namespace, "uid": od.uid}
        spec_error: str | None = None
        url: str | None = None
        try:
            spec = models.parse_spec(od.spec)
        except models.InvalidSpec as e:
            spec, spec_error = None, str(e)
            state = state or State(uid=od.uid)
            self.states[key] = state

        if spec is not None:
            url = builders.service_url(owner, spec, self.settings.cluster_domain)
            desired = builders.desired_objects(owner, spec, self.settings)
            digest = digest_of(desired)
            reason = why_apply(state, digest, seen, desired[0])
            if reason and reason[0] == "DriftRepaired" and state and state.deleted:
                # Children vanish also when their owner is being deleted: check before re-creating.
                current = await self.kube.get(models.KIND, od.namespace, od.name)
                if current is None or current["metadata"]["uid"] != od.uid:
                    self.forget(key)
                    return
            state = state or State(uid=od.uid)
            self.states[key] = state
            if reason:
                spec_error = await self._apply(
                    state, owner, spec, desired, digest, reason, involved, seen.service
                )
            elif state.apply_error:
                spec_error = state.apply_error

        await self._write_status(key, state, od, seen, spec, spec_error, url, involved)

    async def _apply(
        self,
        state: State,
        owner: builders.Owner,
        spec: models.ObjectDetectorSpec,
        desired: list[dict[str, Any]],
        digest: str,
        reason: tuple[str, str],
        involved: dict[str, str],
        seen_service: ServiceView | None,
    ) -> str | None:
        claim = spec.pvc_claim
        if claim and state.digest != digest:
            if await self.kube.get("PersistentVolumeClaim", owner.namespace, claim[0]) is None:
                # Applied anyway: the pods start by themselves once the claim appears.
                self._event(
                    involved, reason=conditions.CLAIM_NOT_FOUND, warning=True,
                    message=f"PersistentVolumeClaim {claim[0]!r} does not exist in {owner.namespace}",
                )
        state.apply_error = None

        async def put(obj: dict[str, Any]) -> dict[str, Any]:
            if obj["kind"] == "Service" and seen_service and seen_service != ServiceView.of(obj):
                await self.kube.merge_patch(obj, service_repair_patch(obj, seen_service))
            return await self.kube.apply(obj)

        # The children do not depend on each other: apply them side by side.
        results = await asyncio.gather(*(put(obj) for obj in desired), return_exceptions=True)
        for obj, result in zip(desired, results):
            if isinstance(result, kube.Invalid):
                # The spec passed the schema but the API server refuses the child (e.g. a bad
                # label value): nothing to retry until the spec changes.
                state.apply_error = (
                    f"the API server rejected {obj['kind']} {obj['metadata']['name']}: {result.message}"
                )
                state.digest = digest
                state.deleted.clear()
                self._event(involved, reason=conditions.INVALID_SPEC, message=state.apply_error, warning=True)
                return state.apply_error
            if isinstance(result, BaseException):
                raise result
            if obj["kind"] == "Deployment":
                state.deployment_generation = result.get("metadata", {}).get("generation", 0)
        state.digest = digest
        state.deleted.clear()
        if reason[1]:
            self._event(involved, reason=reason[0], message=reason[1])
        log.info("%s/%s: %s %s", owner.namespace, owner.name, reason[0], reason[1])
        return None

    async def _write_status(
        self,
        key: Key,
        state: State | None,
        od: Detector,
        seen: Observed,
        spec: models.ObjectDetectorSpec | None,
        spec_error: str | None,
        url: str | None,
        involved: dict[str, str],
    ) -> None:
        current = (state.last_status if state else None) or od.status or {}
        status = conditions.compute_status(
            generation=od.generation,
            replicas=spec.replicas if spec else 0,
            deployment=seen.deployment,
            pods=seen.pods,
            previous_conditions=current.get("conditions") or [],
            now=self.clock(),
            selector=builders.selector_string(od.name),
            url=url,
            spec_error=spec_error,
        )
        if all(current.get(k) == v for k, v in status.items()):
            return
        await self.kube.patch_status(od.namespace, od.name, status)
        if state:
            state.last_status = status
        before, after = ready_reason(current), ready_reason(status)
        if after and after != before:
            ready = next(c for c in status["conditions"] if c["type"] == conditions.READY)
            degraded = next(c for c in status["conditions"] if c["type"] == conditions.DEGRADED)
            self._event(
                involved, reason=after, message=ready["message"] or after,
                warning=degraded["status"] == "True",
            )


def ready_reason(status: dict[str, Any]) -> str | None:
    for c in status.get("conditions") or []:
        if c.get("type") == conditions.READY:
            return c.get("reason")
    return None
