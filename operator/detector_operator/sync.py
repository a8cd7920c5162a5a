"""One level-triggered sync of an ObjectDetector: desired children -> apply -> status.

No kopf here: handlers.py supplies `lookup`, a view of what the watches have seen, and feeds
keys to a WorkQueue whose work is `Syncer.run`. A sync applies children only when something
calls for it (a new spec, a child deleted or edited by someone else, nothing recorded yet after a
start) and writes status only when it differs from the last status written, so an idle cluster
costs no writes. What one sync knows travels in a SyncContext.

Few writes, none late where it matters: after an apply the status waits SETTLE_SECONDS for the
cluster's reaction (one write then says more than three on the way); a condition's status or
reason is written at once, while progress details (messages, counts) may lag DETAIL_SECONDS.
Events tell what a person could not read off the status: what the operator did (Created,
Updated, DriftRepaired), failures, and any change of the Ready reason it did not cause itself.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from detector_operator import builders, kube, models, status
from detector_operator.settings import Settings
from detector_operator.views import Key, Observed, ServiceView
from redaction import scrub

log = logging.getLogger(__name__)
SETTLE_SECONDS = 1.0
DETAIL_SECONDS = 10.0
ANNOUNCING = ("Created", "Updated")  # actions whose Event also tells of the rollout they start


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
    last_write: float = float("-inf")  # monotonic time of the last status write
    announced: bool = False  # a Created/Updated Event already tells of the rollout under way


@dataclass(frozen=True)
class ApplyReason:
    event: str  # the Event's reason; "" for a quiet re-apply
    message: str


@dataclass
class SyncContext:
    """Everything one sync of one ObjectDetector knows and decides."""

    key: Key
    seen: Observed
    state: State
    owner: builders.Owner
    spec: models.ObjectDetectorSpec | None
    spec_error: str | None = None
    desired: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""

    @property
    def involved(self) -> dict[str, str]:
        return {"name": self.owner.name, "namespace": self.owner.namespace, "uid": self.owner.uid}

    @property
    def child(self) -> str:
        return builders.child_name(self.owner.name)


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


def why_apply(ctx: SyncContext, desired_service: dict[str, Any]) -> ApplyReason | None:
    """Why the children must be applied now; None when they are as this process applied them."""
    state, seen, name = ctx.state, ctx.seen, ctx.child
    if not state.digest:
        if seen.deployment is None or seen.service is None:
            return ApplyReason("Created", f"creating Deployment and Service {name}")
        return ApplyReason("", "")  # first sync of this process: re-assert, quietly
    if state.digest != ctx.digest:
        generation = seen.detector.generation if seen.detector else "?"
        return ApplyReason("Updated", f"applied generation {generation} to Deployment and Service {name}")
    if state.deleted:
        kinds = " and ".join(sorted(state.deleted))
        return ApplyReason("DriftRepaired", f"{kinds} {name} was deleted; re-created it")
    if seen.deployment and seen.deployment.generation > state.deployment_generation:
        return ApplyReason("DriftRepaired", f"Deployment {name} was changed by someone else; re-applied the operator's fields")
    if seen.service and seen.service != ServiceView.of(desired_service):
        return ApplyReason("DriftRepaired", f"Service {name} was changed by someone else; re-applied the operator's fields")
    return None


def ready_reason(current: dict[str, Any]) -> str | None:
    for c in current.get("conditions") or []:
        if c.get("type") == status.READY:
            return c.get("reason")
    return None


class Syncer:
    def __init__(
        self,
        kube_client: kube.Kube,
        settings: Settings,
        lookup: Callable[[Key], Observed],
        *,
        clock: Callable[[], str] = utc_now,
        later: Callable[[Key, float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """later(key, seconds): ask for another sync of key that much later (the work queue's
        request_later); without it every status is written at once."""
        self.kube = kube_client
        self.settings = settings
        self.lookup = lookup
        self.clock = clock
        self.later = later
        self.monotonic = monotonic
        self.states: dict[Key, State] = {}
        self._events: set[asyncio.Task[None]] = set()

    # --- entry points for the framework layer ---

    def child_deleted(self, key: Key, kind: str) -> None:
        state = self.states.get(key)
        if state:
            state.deleted.add(kind)

    async def run(self, key: Key) -> None:
        """The work queue's work: a sync, with the API server's answers sorted into done (the
        object or its namespace is gone) and retry (raised for the queue's backoff)."""
        try:
            await self.sync(key)
        except kube.Forbidden as e:
            if not e.namespace_terminating:
                raise
            self.forget(key)
        except kube.NotFound as e:
            # The ObjectDetector went away while we worked; its children go by garbage collection.
            log.info("%s/%s is gone (%s)", *key, e.message)
            self.forget(key)
        except kube.KubeError:
            raise
        except Exception:
            log.exception("sync of %s/%s failed", *key)
            raise

    def forget(self, key: Key) -> None:
        self.states.pop(key, None)

    async def drain(self) -> None:
        """Wait for background Events (tests, shutdown)."""
        while self._events:
            await asyncio.gather(*list(self._events), return_exceptions=True)

    def close(self) -> None:
        for task in self._events:
            task.cancel()

    # --- the pipeline ---

    async def sync(self, key: Key) -> None:
        ctx = self._context(key)
        if ctx is None:
            self.forget(key)
            return
        if ctx.spec is not None:
            ctx.desired = builders.desired_objects(ctx.owner, ctx.spec, self.settings)
            ctx.digest = digest_of(ctx.desired)
            reason = why_apply(ctx, ctx.desired[0])
            if reason and ctx.state.deleted and not await self._owner_still_exists(ctx):
                # Children vanish also when their owner is being deleted: never re-create those.
                self.forget(key)
                return
            if reason:
                await self._apply(ctx, reason)
                if reason.event in ANNOUNCING and not ctx.spec_error and self.later:
                    self.later(key, SETTLE_SECONDS)  # the status then shows how the cluster took it
                    return
            elif ctx.state.apply_error:
                ctx.spec_error = ctx.state.apply_error
        await self._write_status(ctx)

    def _context(self, key: Key) -> SyncContext | None:
        seen = self.lookup(key)
        od = seen.detector
        if od is None or od.deleting:
            return None  # nothing to keep in shape: the garbage collector is taking the children
        state = self.states.get(key)
        if state is None or state.uid != od.uid:  # new, or deleted and re-created under the same name
            state = self.states[key] = State(uid=od.uid)
        owner = builders.Owner(name=od.name, namespace=od.namespace, uid=od.uid)
        try:
            return SyncContext(key, seen, state, owner, models.parse_spec(od.spec))
        except models.InvalidSpec as e:
            return SyncContext(key, seen, state, owner, None, spec_error=str(e))

    async def _owner_still_exists(self, ctx: SyncContext) -> bool:
        current = await self.kube.get(models.KIND, ctx.owner.namespace, ctx.owner.name)
        return (current is not None and current["metadata"]["uid"] == ctx.owner.uid
                and not current["metadata"].get("deletionTimestamp"))

    async def _apply(self, ctx: SyncContext, reason: ApplyReason) -> None:
        assert ctx.spec is not None
        state, claim = ctx.state, ctx.spec.pvc_claim
        if claim and state.digest != ctx.digest:
            if await self.kube.get("PersistentVolumeClaim", ctx.owner.namespace, claim[0]) is None:
                # Applied anyway: the pods start by themselves once the claim appears.
                self._event(ctx, status.CLAIM_NOT_FOUND, warning=True,
                            message=f"PersistentVolumeClaim {claim[0]!r} does not exist in {ctx.owner.namespace}")
        state.apply_error = None
        seen_service = ctx.seen.service

        async def put(obj: dict[str, Any]) -> dict[str, Any]:
            if obj["kind"] == "Service" and seen_service and seen_service != ServiceView.of(obj):
                await self.kube.merge_patch(obj, service_repair_patch(obj, seen_service))
            return await self.kube.apply(obj)

        # The children do not depend on each other: apply them side by side.
        results = await asyncio.gather(*(put(obj) for obj in ctx.desired), return_exceptions=True)
        for obj, result in zip(ctx.desired, results):
            if isinstance(result, kube.Invalid):
                # The spec passed the schema but the API server refuses the child (e.g. a bad
                # label value): nothing to retry until the spec changes.
                state.apply_error = ctx.spec_error = (
                    f"the API server rejected {obj['kind']} {obj['metadata']['name']}: {result.message}")
                state.digest = ctx.digest
                state.deleted.clear()
                self._event(ctx, status.INVALID_SPEC, message=state.apply_error, warning=True)
                return
            if isinstance(result, BaseException):
                raise result
            if obj["kind"] == "Deployment":
                state.deployment_generation = result.get("metadata", {}).get("generation", 0)
        state.digest = ctx.digest
        state.deleted.clear()
        if reason.event:
            self._event(ctx, reason.event, message=reason.message)
            state.announced = reason.event in ANNOUNCING
        log.info("%s/%s: %s %s", ctx.owner.namespace, ctx.owner.name, reason.event or "Resynced", scrub(reason.message))

    async def _write_status(self, ctx: SyncContext) -> None:
        od, state, spec = ctx.seen.detector, ctx.state, ctx.spec
        assert od is not None
        current = state.last_status or od.status or {}
        new = status.compute_status(
            generation=od.generation,
            replicas=spec.replicas if spec else 0,
            deployment=ctx.seen.deployment,
            pods=ctx.seen.pods,
            previous_conditions=current.get("conditions") or [],
            now=self.clock(),
            selector=builders.selector_string(od.name),
            addresses=builders.service_addresses(ctx.owner, spec, self.settings.cluster_domain) if spec else None,
            spec_error=ctx.spec_error,
        )
        if all(current.get(k) == v for k, v in new.items()):
            return
        if self.later and not status.significant_change(current, new):
            wait = state.last_write + DETAIL_SECONDS - self.monotonic()
            if wait > 0:
                self.later(ctx.key, wait)
                return
        await self.kube.patch_status(od.namespace, od.name, new)
        state.last_status, state.last_write = new, self.monotonic()
        self._ready_event(ctx, ready_reason(current), new)

    def _ready_event(self, ctx: SyncContext, before: str | None, new: dict[str, Any]) -> None:
        after, state = ready_reason(new), ctx.state
        quiet = state.announced and after not in status.FAILURES  # the action's Event told of it
        rolled_out = any(c["type"] == status.PROGRESSING and c["status"] == "False" for c in new["conditions"])
        if after in status.SETTLED or rolled_out:
            state.announced = False
        if not after or after == before or quiet:
            return
        ready = next(c for c in new["conditions"] if c["type"] == status.READY)
        self._event(ctx, after, message=ready["message"] or after, warning=after in status.FAILURES)

    def _event(self, ctx: SyncContext, reason: str, *, message: str, warning: bool = False) -> None:
        # Events are best effort and never worth delaying a sync for.
        task = asyncio.get_running_loop().create_task(
            self.kube.post_event(ctx.involved, reason=reason, message=message, warning=warning))
        self._events.add(task)
        task.add_done_callback(self._events.discard)
