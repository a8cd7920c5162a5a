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

from detector_operator import availability, builders, children, kube, models, policy, status
from detector_operator.settings import Settings
from detector_operator.views import Key, Observed
from redaction import scrub

log = logging.getLogger(__name__)
SETTLE_SECONDS = 1.0
DETAIL_SECONDS = 10.0
ANNOUNCING = ("Created", "Updated")  # actions whose Event also tells of the rollout they start
# Secrets are not watched: a detector refused for its Secret's label looks again this often, so
# labelling the Secret is enough to let it through.
SECRET_RECHECK_SECONDS = 30.0


@dataclass
class State:
    """What this process last did for one ObjectDetector (lost on restart, which is fine: a
    fresh process re-applies once and compares status with what is stored)."""

    uid: str
    digest: str = ""
    generations: dict[str, int] = field(default_factory=dict)  # by kind: metadata.generation our last apply left
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
    spec_error_reason: str = status.INVALID_SPEC
    # Every built kind's manifest by kind (children.desired); None: an optional kind not wanted.
    desired: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    digest: str = ""

    @property
    def involved(self) -> dict[str, str]:
        return {"name": self.owner.name, "namespace": self.owner.namespace, "uid": self.owner.uid}

    @property
    def child(self) -> str:
        return builders.child_name(self.owner.name)

    def wanted(self) -> list[tuple[children.Kind, dict[str, Any]]]:
        """The built kinds this spec wants, with their manifests, in apply order."""
        return [(k, obj) for k in children.built() if (obj := self.desired.get(k.kind)) is not None]

    def unwanted(self) -> list[children.Kind]:
        """Optional kinds this spec does not want, of which the watches still see an object."""
        return [k for k in children.built() if self.desired.get(k.kind) is None and self.seen.view(k.kind) is not None]


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def digest_of(desired: dict[str, dict[str, Any] | None]) -> str:
    return hashlib.sha256(json.dumps(desired, sort_keys=True).encode()).hexdigest()


def _listed(kinds: list[str], name: str) -> str:
    return f"{' and '.join(kinds)} {name} {'was' if len(kinds) == 1 else 'were'}"


def why_apply(ctx: SyncContext) -> ApplyReason | None:
    """Why the children must be applied now; None when they are as this process applied them."""
    state, seen, name = ctx.state, ctx.seen, ctx.child
    wanted = [k for k, _ in ctx.wanted()]
    kinds = " and ".join(k.kind for k in wanted)
    if not state.digest:
        if any(seen.view(k.kind) is None for k in wanted):
            return ApplyReason("Created", f"creating {kinds} {name}")
        return ApplyReason("", "")  # first sync of this process: re-assert, quietly
    if state.digest != ctx.digest:
        generation = seen.detector.generation if seen.detector else "?"
        return ApplyReason("Updated", f"applied generation {generation} to {kinds} {name}")
    deleted = [k.kind for k in wanted if k.kind in state.deleted]
    if deleted:
        return ApplyReason("DriftRepaired", f"{_listed(deleted, name)} deleted; re-created")
    changed = [k.kind for k in wanted if k.drifted and seen.view(k.kind) is not None
               and k.drifted(ctx.desired[k.kind] or {}, seen.view(k.kind), state.generations.get(k.kind, 0))]
    if changed:
        return ApplyReason("DriftRepaired", f"{_listed(changed, name)} changed by someone else; "
                                            "re-applied the operator's fields")
    return None


def ready_reason(current: dict[str, Any]) -> str | None:
    for c in current.get("conditions") or []:
        if c.get("type") == status.READY:
            reason: str | None = c.get("reason")
            return reason
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
            ctx.desired = children.desired(ctx.owner, ctx.spec, self.settings)
            ctx.digest = digest_of(ctx.desired)
            ctx.state.deleted &= {kind for kind, obj in ctx.desired.items() if obj is not None}
            reason = why_apply(ctx)
            # A spec that was never applied (its digest is not the state's) is checked before it
            # is; children of an earlier, allowed spec stay as they are.
            refusal = "; ".join(policy.refusals(ctx.spec, self.settings))
            if not refusal and reason:
                refusal = await self._secret_refusal(ctx)
            if refusal:
                ctx.spec_error, ctx.spec_error_reason = refusal, status.FORBIDDEN
                reason = None
            elif reason and ctx.state.deleted and not await self._owner_still_exists(ctx):
                # Children vanish also when their owner is being deleted: never re-create those.
                self.forget(key)
                return
            if reason:
                await self._apply(ctx, reason)
                if reason.event in ANNOUNCING and not ctx.spec_error and self.later:
                    self.later(key, SETTLE_SECONDS)  # the status then shows how the cluster took it
                    return
            elif ctx.state.apply_error and not refusal:
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

    async def _secret_refusal(self, ctx: SyncContext) -> str:
        """Why a Secret the spec names may not be used ("" when all may): it must carry the
        opt-in label. Read as metadata only; a refusal is looked at again in a while."""
        label = self.settings.secret_opt_in_label
        assert ctx.spec is not None
        if label is None:
            return ""
        found = []
        for field_name, name in policy.referenced_secrets(ctx.spec):
            try:
                meta = await self.kube.get_metadata("Secret", ctx.owner.namespace, name)
            except kube.Forbidden as e:
                if e.namespace_terminating:
                    raise
                found.append(f"{field_name} {name!r}: the operator may not read the Secret's labels to "
                             f"check {label[0]}={label[1]} (RBAC: get secrets): {e.message}")
                continue
            labels = None if meta is None else (meta.get("metadata", {}).get("labels") or {})
            message = policy.secret_refusal(field_name, name, ctx.owner.namespace, labels, label)
            if message:
                found.append(message)
        if found and self.later:
            self.later(ctx.key, SECRET_RECHECK_SECONDS)
        return "; ".join(found)

    async def _owner_still_exists(self, ctx: SyncContext) -> bool:
        current = await self.kube.get(models.KIND, ctx.owner.namespace, ctx.owner.name)
        return (current is not None and current["metadata"]["uid"] == ctx.owner.uid
                and not current["metadata"].get("deletionTimestamp"))

    async def _apply(self, ctx: SyncContext, reason: ApplyReason) -> None:
        assert ctx.spec is not None
        state, claim = ctx.state, ctx.spec.pvc_claim
        if (claim and state.digest != ctx.digest
                and await self.kube.get("PersistentVolumeClaim", ctx.owner.namespace, claim[0]) is None):
            # Applied anyway: the pods start by themselves once the claim appears.
            self._event(ctx, status.CLAIM_NOT_FOUND, warning=True,
                        message=f"PersistentVolumeClaim {claim[0]!r} does not exist in {ctx.owner.namespace}")
        state.apply_error = None
        wanted, namespace = ctx.wanted(), ctx.owner.namespace

        async def put(child: children.Kind, obj: dict[str, Any]) -> dict[str, Any]:
            seen = ctx.seen.view(child.kind)
            patch = child.repair_patch(obj, seen) if child.repair_patch and seen is not None else None
            if patch:
                await self.kube.merge_patch(obj, patch)
            return await self.kube.apply(obj)

        # The children do not depend on each other: apply (and delete) them side by side.
        results = await asyncio.gather(
            *(put(child, obj) for child, obj in wanted),
            *(self.kube.delete(child.resource, namespace, child.name_of(ctx.owner.name)) for child in ctx.unwanted()),
            return_exceptions=True)
        for (child, obj), result in zip(wanted, results, strict=False):  # the deletes' results follow
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
            state.generations[child.kind] = result.get("metadata", {}).get("generation", 0)
        for result in results[len(wanted):]:
            if isinstance(result, BaseException):
                raise result
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
            deployment=ctx.seen.view(children.DEPLOYMENT.kind),
            pods=ctx.seen.views(children.POD.kind),
            previous_conditions=current.get("conditions") or [],
            now=self.clock(),
            selector=builders.selector_string(od.name),
            addresses=builders.service_addresses(ctx.owner, spec, self.settings.cluster_domain) if spec else None,
            spec_error=ctx.spec_error,
            serving_note=availability.single_replica_note(spec) if spec else None,
            spec_error_reason=ctx.spec_error_reason,
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
        self._blocked_event(ctx, current, new)

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

    def _blocked_event(self, ctx: SyncContext, before: dict[str, Any], new: dict[str, Any]) -> None:
        """A blocked rollout leaves Ready as it was (the old pods serve), so no Ready Event tells of it."""
        def progressing(current: dict[str, Any]) -> dict[str, Any]:
            return next((c for c in current.get("conditions") or [] if c.get("type") == status.PROGRESSING), {})
        after = progressing(new)
        if after.get("reason") == status.ROLLOUT_BLOCKED != progressing(before).get("reason"):
            self._event(ctx, status.ROLLOUT_BLOCKED, message=after["message"], warning=True)

    def _event(self, ctx: SyncContext, reason: str, *, message: str, warning: bool = False) -> None:
        # Events are best effort and never worth delaying a sync for.
        task = asyncio.get_running_loop().create_task(
            self.kube.post_event(ctx.involved, reason=reason, message=message, warning=warning))
        self._events.add(task)
        task.add_done_callback(self._events.discard)
