"""Where an ObjectDetector's pods may run and what they may use: pure, spec in, pod fields out.

The one place that knows how GPUs are requested (the nvidia.com/gpu limit) and found (the labels
and taint NVIDIA's GPU operator puts on nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector_operator import models

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"

CPU_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
GPU_RESOURCES = {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}


@dataclass(frozen=True)
class Placement:
    limits: dict[str, Any]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    affinity: dict[str, Any] | None


def gpu_placement(spec: models.ObjectDetectorSpec) -> Placement:
    """Where the pods may run: the one place that knows how GPUs are requested and found.

    The user's nodeSelector/tolerations/affinity are merged with (not replaced by) what the GPU
    needs; on a conflicting nodeSelector key the GPU's value wins, since the pod could not run
    anywhere else.
    """
    node_selector = dict(spec.node_selector or {})
    tolerations = [t.wire() for t in spec.tolerations or []]
    limits: dict[str, Any] = {}
    if spec.hardware == "gpu":
        gpu = spec.gpu or models.GpuSpec()
        limits[GPU_RESOURCE] = gpu.count
        node_selector[GPU_PRESENT_LABEL] = "true"
        if gpu.product:
            node_selector[GPU_PRODUCT_LABEL] = gpu.product
        gpu_toleration = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        if gpu_toleration not in tolerations:
            tolerations.append(gpu_toleration)
    return Placement(limits, node_selector, tolerations, spec.affinity or None)


EPHEMERAL_STORAGE = "ephemeral-storage"


def container_resources(
    spec: models.ObjectDetectorSpec, placement: Placement, storage: dict[str, str] | None = None
) -> dict[str, Any]:
    """storage: the ephemeral-storage request and limit the pod's volumes need (builders), under
    the user's overrides like every other default."""
    base = GPU_RESOURCES if spec.hardware == "gpu" else CPU_RESOURCES
    overrides = spec.resources or models.ResourceOverrides()
    disk_requests = {EPHEMERAL_STORAGE: storage["request"]} if storage else {}
    disk_limits = {EPHEMERAL_STORAGE: storage["limit"]} if storage else {}
    requests = {**base["requests"], **disk_requests, **(overrides.requests or {})}
    # The GPU limit comes from spec.gpu, so a resources override cannot contradict it.
    limits = {**base["limits"], **disk_limits, **(overrides.limits or {}), **placement.limits}
    return {"requests": requests, "limits": limits}
