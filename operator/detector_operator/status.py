"""The whole `.status` of an ObjectDetector, built from the views of its children (views.py).

Pure, so every reason is unit-tested. `compute_status` keeps each condition's
`lastTransitionTime` unless its status flips. Messages avoid anything that changes without a
real change (back-off timers, restart counts), so an idle cluster gives an identical status and
the operator writes nothing. No message carries a credential (`condition` scrubs them all).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from detector_operator.views import DeploymentView, PodView
from redaction import scrub

READY, PROGRESSING, DEGRADED = "Ready", "Progressing", "Degraded"
SERVING = "Serving"
INVALID_SPEC = "InvalidSpec"
# The operator's settings forbid what the spec asks for (policy.py): an image, a Secret, a node...
FORBIDDEN = "Forbidden"
CLAIM_NOT_FOUND = "ClaimNotFound"
UNSCHEDULABLE = "Unschedulable"
MODEL_LOAD_FAILED = "ModelLoadFailed"
SERVER_CRASH_LOOPING = "ServerCrashLooping"
DEPLOYING = "Deploying"
SCALED_TO_ZERO = "ScaledToZero"
AS_EXPECTED = "AsExpected"
ROLLING_OUT = "RollingOut"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_BLOCKED = "RolloutBlocked"

# Ready reasons that need a person (Degraded=True, a Warning Event); the rest are on the way or fine.
FAILURES = frozenset({INVALID_SPEC, FORBIDDEN, CLAIM_NOT_FOUND, UNSCHEDULABLE, MODEL_LOAD_FAILED, SERVER_CRASH_LOOPING})
# Ready reasons a detector rests in until something changes.
SETTLED = FAILURES | {SERVING, SCALED_TO_ZERO}

# The downloader's termination message starts with this; a message that does not (an OOM kill,
# a runtime error before the downloader ran) gets it, so the status always says what failed, once.
DOWNLOAD_FAILED = "model download failed"
_MISSING_CLAIM = re.compile(r'persistentvolumeclaim "([^"]+)" not found')


def failure(pods: Iterable[PodView]) -> tuple[str, str] | None:
    """The most telling problem among the pods, as (reason, message); None when none."""
    ordered = sorted(pods, key=lambda p: p.name)
    for pod in ordered:
        if pod.init_failure:
            said = pod.init_failure if pod.init_failure.startswith(DOWNLOAD_FAILED) else (
                f"{DOWNLOAD_FAILED}: {pod.init_failure}")
            return MODEL_LOAD_FAILED, f"pod {pod.name}: {said}"
    for pod in ordered:
        if pod.server_failure:
            return SERVER_CRASH_LOOPING, f"pod {pod.name}: server crash-looping: {pod.server_failure}"
    for pod in ordered:
        if pod.unschedulable:
            missing = _MISSING_CLAIM.search(pod.unschedulable)
            if missing:
                return CLAIM_NOT_FOUND, (
                    f"PersistentVolumeClaim {missing.group(1)!r} does not exist: "
                    f"create it or fix spec.modelUri (pod {pod.name}: {pod.unschedulable})"
                )
            return UNSCHEDULABLE, f"pod {pod.name}: {pod.unschedulable}"
    return None


def rollout_pending(deployment: DeploymentView | None, replicas: int) -> str | None:
    """Why the Deployment's rollout is not finished, or None when it is."""
    if deployment is None:
        return "the Deployment does not exist yet"
    if deployment.observed_generation < deployment.generation:
        return "the Deployment controller has not seen the latest spec yet"
    if deployment.updated_replicas < replicas:
        return f"{deployment.updated_replicas}/{replicas} replicas updated"
    if deployment.replicas > deployment.updated_replicas:
        return f"{deployment.replicas - deployment.updated_replicas} old replicas terminating"
    if deployment.available_replicas < deployment.updated_replicas:
        return f"{deployment.available_replicas}/{deployment.updated_replicas} updated replicas available"
    return None


def rollout_blocked(
    deployment: DeploymentView | None, pending: str | None, problem: tuple[str, str] | None, ready_count: int
) -> str | None:
    """Why a new spec cannot roll out while pods of an earlier one keep serving; None otherwise.

    The failing pod is the new one (the old ones are serving); without a failing pod, the
    Deployment controller's ProgressDeadlineExceeded says the rollout has stalled. A detector
    with nothing serving is not "blocked": its Ready reason already tells the failure.
    """
    if pending is None or ready_count == 0:
        return None
    if problem:
        return f"the new spec does not roll out, earlier pods keep serving: {problem[1]}"
    if deployment is not None and deployment.progress_deadline_exceeded:
        return (f"the new spec does not roll out, earlier pods keep serving: no new pod became ready "
                f"within the Deployment's progress deadline ({pending})")
    return None


def significant_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """A change that must reach the API server at once: a condition's status or reason, the
    observed generation, the selector or the URL. Progress details (messages, replica counts)
    may wait a little, so a rollout is not one status write per pod event."""
    def key(status: Mapping[str, Any]) -> tuple[Any, ...]:
        conds = tuple(sorted((c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []))
        return status.get("observedGeneration"), status.get("selector"), status.get("url"), conds
    return key(before) != key(after)


def condition(
    type_: str, status: bool, reason: str, message: str, *, generation: int
) -> dict[str, Any]:
    """Every message passes redaction.scrub: anyone who may `get od` reads it, and it quotes what
    pods and the API server said (a downloader's termination message, an apply error), which can
    hold a URL's user:password@ or a pre-signed signature."""
    return {
        "type": type_,
        "status": "True" if status else "False",
        "reason": reason,
        "message": scrub(message),
        "observedGeneration": generation,
    }


def with_transition_times(
    new: list[dict[str, Any]], previous: Iterable[Mapping[str, Any]], now: str
) -> list[dict[str, Any]]:
    """lastTransitionTime moves only when a condition's status flips."""
    before = {c.get("type"): c for c in previous}
    out = []
    for cond in new:
        old = before.get(cond["type"])
        kept = old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime")
        out.append({**cond, "lastTransitionTime": kept or now})
    return out


def compute_status(
    *,
    generation: int,
    replicas: int,
    deployment: DeploymentView | None,
    pods: Iterable[PodView],
    previous_conditions: Iterable[Mapping[str, Any]],
    now: str,
    selector: str,
    addresses: Mapping[str, str] | None,
    spec_error: str | None = None,
    serving_note: str | None = None,
    spec_error_reason: str = INVALID_SPEC,
) -> dict[str, Any]:
    """The full `.status` of an ObjectDetector.

    addresses: where clients reach the Service (builders.service_addresses: url, grpcAddress).
    spec_error: why the spec cannot be served (schema, or the API server refused a child);
    it wins over everything the children show. spec_error_reason: its Ready reason, InvalidSpec
    or Forbidden (the operator's settings forbid it).
    serving_note: what a serving detector's Ready message adds (availability.single_replica_note).
    """
    pods = list(pods)
    ready_count = deployment.ready_replicas if deployment else 0
    problem = (spec_error_reason, spec_error) if spec_error else failure(pods)
    pending = None if spec_error else rollout_pending(deployment, replicas)
    blocked = rollout_blocked(deployment, pending, problem, ready_count)

    if spec_error:
        ready = condition(READY, False, spec_error_reason, spec_error, generation=generation)
    elif replicas == 0:
        ready = condition(READY, False, SCALED_TO_ZERO, "spec.replicas is 0", generation=generation)
    elif ready_count >= replicas:
        serving = " (of an earlier spec: the new one is blocked, see Progressing)" if blocked else ""
        serving += f"; {serving_note}" if serving_note else ""
        ready = condition(
            READY, True, SERVING, f"{ready_count}/{replicas} replicas ready{serving}", generation=generation
        )
    elif problem:
        ready = condition(READY, False, problem[0], problem[1], generation=generation)
    else:
        waiting = sorted(p.waiting for p in pods if p.waiting and not p.ready)
        detail = f"; {waiting[0]}" if waiting else ""
        ready = condition(
            READY, False, DEPLOYING, f"{ready_count}/{replicas} replicas ready{detail}",
            generation=generation,
        )

    if problem:
        degraded = condition(DEGRADED, True, problem[0], problem[1], generation=generation)
    elif blocked:
        degraded = condition(DEGRADED, True, ROLLOUT_BLOCKED, blocked, generation=generation)
    else:
        degraded = condition(DEGRADED, False, AS_EXPECTED, "", generation=generation)

    if blocked:
        progressing = condition(PROGRESSING, False, ROLLOUT_BLOCKED, blocked, generation=generation)
    elif pending and not spec_error:
        progressing = condition(PROGRESSING, True, ROLLING_OUT, pending, generation=generation)
    else:
        progressing = condition(
            PROGRESSING, False, ROLLOUT_COMPLETE,
            "" if not spec_error else "nothing to roll out until the spec is fixed",
            generation=generation,
        )

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": deployment.replicas if deployment else 0,
        "readyReplicas": ready_count,
        "selector": selector,
        "conditions": with_transition_times([ready, progressing, degraded], previous_conditions, now),
    }
    status.update(addresses or {})
    return status
