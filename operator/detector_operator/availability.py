"""What keeps a detector serving while the platform changes things under it: pure, spec in, pod
and Deployment fields out.

The owner of the timings of a pod's ending and start (the server is told them through its
environment, so the pod's grace period and the server's own waits come from one place), of the
rollout strategy, of the default topology spread and of the disruption budget.
"""

from __future__ import annotations

import math
from typing import Any

from detector_operator import models

# The ending. On SIGTERM the server reports not ready and keeps serving for the drain delay
# (spec.server.drainDelaySeconds), then gives requests and calls in flight up to DRAIN_SECONDS,
# then drains its batcher and exits. The delay runs in the server rather than in a preStop hook
# (Kubernetes' native `preStop.sleep`, GA since 1.34, would need no binary either): during a
# preStop sleep the process does not know it is ending, so it could neither turn its readiness
# and gRPC health to NOT_SERVING for clients that check them nor tell pooled keep-alive
# connections (which kube-proxy keeps sending to this pod whatever the endpoints say) to close.
DRAIN_SECONDS = 20
# From the last request's answer to the process's end: the batcher, the lifespan, the exit.
EXIT_MARGIN_SECONDS = 5

# The start. The startup probe asks for readiness (the model loaded and warmed up) every
# STARTUP_PERIOD_SECONDS; liveness starts to count only once it succeeds.
STARTUP_PERIOD_SECONDS = 10
# Fields of spec.server that the kubelet acts on (through the probes), not the server: no flag.
KUBELET_SETTINGS = frozenset({"startup_timeout_seconds"})


def server_settings(spec: models.ObjectDetectorSpec) -> models.ServerSettings:
    return spec.server or models.ServerSettings()


def drain_env(spec: models.ObjectDetectorSpec) -> dict[str, int]:
    """The server's environment for its ending (inference_server/config.py reads it)."""
    return {
        "DETECTOR_DRAIN_DELAY_SECONDS": server_settings(spec).drain_delay_seconds,
        "DETECTOR_DRAIN_SECONDS": DRAIN_SECONDS,
    }


def termination_grace_seconds(spec: models.ObjectDetectorSpec) -> int:
    """Long enough for the whole ending, so the kubelet's SIGKILL never cuts a request short:
    drain delay + drain + exit (35 s by default)."""
    return server_settings(spec).drain_delay_seconds + DRAIN_SECONDS + EXIT_MARGIN_SECONDS


def startup_probe(spec: models.ObjectDetectorSpec, readiness_path: str, port: str) -> dict[str, Any]:
    """Readiness, asked until the startup timeout: liveness never judges a pod still loading, and a
    load that hangs is restarted once the timeout is spent."""
    timeout = server_settings(spec).startup_timeout_seconds
    return {
        "httpGet": {"path": readiness_path, "port": port},
        "periodSeconds": STARTUP_PERIOD_SECONDS,
        "timeoutSeconds": 2,
        "failureThreshold": math.ceil(timeout / STARTUP_PERIOD_SECONDS),
    }


# Spread. Replicas on one node (or one zone) all go with it. Both are preferences
# (ScheduleAnyway): a detector that cannot spread still runs.
HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"
# Spread counts the pods of one ReplicaSet (one revision): in a rollout the new pods spread among
# themselves rather than around the old ones that are about to go.
REVISION_LABEL = "pod-template-hash"
ZONE_WEIGHT = 100  # as strong as a preference gets; the user's own weight-100 terms weigh the same


def topology_spread(selector: dict[str, str], user: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One replica per node as far as nodes allow, merged with the user's constraints: a user
    constraint on the same topologyKey replaces ours; one without a labelSelector gets the
    detector's pods' (without one it would count no pods and do nothing).

    Zones are not spread here but by `zone_spread`: a topology spread constraint on a key that
    the nodes lack makes the scheduler ignore those nodes for *every* soft constraint of the pod
    (kube-scheduler's podtopologyspread/scoring.go: nodes missing any constraint's key are
    skipped when scoring), so a zone constraint on a cluster without zone labels would silently
    switch the hostname spread off.
    """
    constraints = [
        {**c, "labelSelector": c.get("labelSelector") or {"matchLabels": dict(selector)}} for c in user or []
    ]
    if not any(c.get("topologyKey") == HOSTNAME_KEY for c in constraints):
        constraints.insert(0, {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_KEY,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": [REVISION_LABEL],
        })
    return constraints


def zone_spread(selector: dict[str, str], affinity: dict[str, Any] | None,
                user_spread: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The user's affinity plus a preference for zones without a replica yet, as a soft pod
    anti-affinity: a node without a zone label scores nothing for it and loses nothing, unlike a
    topology spread constraint (see topology_spread). The user's own zone rule wins: a podAntiAffinity
    term or a spread constraint on the zone key leaves ours out."""
    merged = dict(affinity or {})
    anti = dict(merged.get("podAntiAffinity") or {})
    preferred = list(anti.get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    required = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    user_keys = {t.get("podAffinityTerm", {}).get("topologyKey") for t in preferred}
    user_keys |= {t.get("topologyKey") for t in required}
    user_keys |= {c.get("topologyKey") for c in user_spread or []}
    if ZONE_KEY in user_keys:
        return merged
    preferred.append({
        "weight": ZONE_WEIGHT,
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": dict(selector)},
            "matchLabelKeys": [REVISION_LABEL],
            "topologyKey": ZONE_KEY,
        },
    })
    anti["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    merged["podAntiAffinity"] = anti
    return merged


# Rollouts. A CPU rollout adds one new pod before it removes an old one (maxSurge 1,
# maxUnavailable 0): a new spec whose model fails leaves every old pod serving. A GPU rollout
# removes one old pod first (maxSurge 0, maxUnavailable 1): a surge pod would wait forever for
# a GPU the old pods hold on a full node. Its price: a failed GPU rollout leaves replicas - 1
# old pods serving, and a single-replica GPU detector serves nothing until the spec is fixed.
CPU_ROLLOUT = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
GPU_ROLLOUT = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
# The Deployment reports ProgressDeadlineExceeded when no new pod became available for this long
# beyond the startup timeout: the model download (init container) gets these 10 minutes.
DOWNLOAD_ALLOWANCE_SECONDS = 600


def rollout_strategy(on_gpus: bool) -> dict[str, Any]:
    return GPU_ROLLOUT if on_gpus else CPU_ROLLOUT


def progress_deadline_seconds(spec: models.ObjectDetectorSpec) -> int:
    return server_settings(spec).startup_timeout_seconds + DOWNLOAD_ALLOWANCE_SECONDS


# Voluntary disruptions (node drains, autoscaler scale-downs: the Eviction API). One replica at a
# time by default, whatever the replica count: with two or more, a drain evicts the next one only
# once its replacement is ready; with one, the budget allows its eviction (serving stops until the
# replacement is ready) rather than making every drain of its node hang until someone steps in.
# A pod that is not ready may always be evicted: it serves nothing, and a crash-looping pod must
# not block a drain.
UNHEALTHY_POD_EVICTION = "AlwaysAllow"


def disruption_budget(spec: models.ObjectDetectorSpec, selector: dict[str, str]) -> dict[str, Any]:
    """The PodDisruptionBudget's spec."""
    settings = spec.disruption or models.DisruptionSettings()
    return {
        "maxUnavailable": settings.max_unavailable,
        "selector": {"matchLabels": dict(selector)},
        "unhealthyPodEvictionPolicy": UNHEALTHY_POD_EVICTION,
    }


def single_replica_note(spec: models.ObjectDetectorSpec) -> str | None:
    """What the status says of a single replica whose budget lets a drain take it."""
    settings = spec.disruption or models.DisruptionSettings()
    if spec.replicas != 1 or settings.max_unavailable in (0, "0%"):
        return None
    return "a single replica: a node drain stops serving until its replacement is ready (2 or more keep serving)"
