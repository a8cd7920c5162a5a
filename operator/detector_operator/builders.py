"""Desired children of an ObjectDetector: pure functions from the spec to manifests.

Same input, same dict: no I/O, no clock, no kopf. Every reconcile applies these with
server-side apply, so whatever is listed here is what the operator owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector_operator import availability, models
from detector_operator.placement import GPU_RESOURCE, Placement, container_resources, gpu_placement
from detector_operator.settings import Settings

SERVER_PORT = 8080
GRPC_PORT = 9000
# Port names: the container declares them, the Service targets them, the probes use "http".
HTTP_PORT_NAME = "http"
READINESS_PATH = "/v2/health/ready"
GRPC_PORT_NAME = "grpc"
RUN_AS = 65532
MODEL_DIR = "/models/model"
PVC_MOUNT = "/models/pvc"
# Our labels on every child: the watches select on the first two, the Deployment on NAME + DETECTOR.
DETECTOR_LABEL = "vision.mlops.dev/detector"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "detector-operator"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"

# The downloader streams a tarball to disk: little CPU, bounded memory. Its disk is the volumes
# (their sizeLimit); ephemeral-storage here covers only its own logs (the root filesystem is
# read-only). The pod's ephemeral-storage limit, the larger of this and the server's, is what
# the kubelet holds the volumes to as a whole (storage_resources).
INIT_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "16Mi"},
                  "limits": {"memory": "1Gi", "ephemeral-storage": "64Mi"}}
# The server's own logs and writable layer, on top of the volumes it mounts.
LOG_ALLOWANCE_BYTES = 256 * 2**20
# The downloader's settings (inference_server/download.py, download_limits.py: same names).
DOWNLOAD_URI_ENV = "DETECTOR_MODEL_URI"
DOWNLOAD_MAX_BYTES_ENV = "DETECTOR_DOWNLOAD_MAX_BYTES"


@dataclass(frozen=True)
class Owner:
    """The ObjectDetector the children belong to."""

    name: str
    namespace: str
    uid: str


def child_name(od_name: str) -> str:
    return f"{od_name}-detector"


def selector_labels(od_name: str) -> dict[str, str]:
    # Immutable in a Deployment: never add to it.
    return {NAME_LABEL: "object-detector", DETECTOR_LABEL: od_name}


def labels(od_name: str) -> dict[str, str]:
    """Our labels only: never the user's (Argo CD's app.kubernetes.io/instance would get the
    children pruned as if they belonged to the Application)."""
    return {
        NAME_LABEL: "object-detector",
        COMPONENT_LABEL: "inference-server",
        MANAGED_BY_LABEL: MANAGED_BY,
        DETECTOR_LABEL: od_name,
    }


def selector_string(od_name: str) -> str:
    return ",".join(f"{k}={v}" for k, v in selector_labels(od_name).items())


def service_addresses(owner: Owner, spec: models.ObjectDetectorSpec, cluster_domain: str) -> dict[str, str]:
    """Where clients in the cluster reach the detector: status.url (HTTP) and status.grpcAddress."""
    host = f"{child_name(owner.name)}.{owner.namespace}.svc.{cluster_domain}"
    return {"url": f"http://{host}:{spec.port}", "grpcAddress": f"{host}:{spec.grpc_port}"}


def owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": f"{models.GROUP}/{models.VERSION}",
        "kind": models.KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(owner: Owner) -> dict[str, Any]:
    return {
        "name": child_name(owner.name),
        "namespace": owner.namespace,
        "labels": labels(owner.name),
        "ownerReferences": [owner_reference(owner)],
    }


def image(spec: models.ObjectDetectorSpec, settings: Settings) -> str:
    if spec.image:
        return spec.image
    return settings.gpu_image if spec.hardware == "gpu" else settings.cpu_image


def container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def env_list(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": k, "value": str(v)} for k, v in values.items() if v is not None]


def server_env(owner: Owner, spec: models.ObjectDetectorSpec) -> list[dict[str, str]]:
    pvc = spec.pvc_claim
    # The downloader leaves the label map inside the model directory, where the server finds it
    # (under a name the server owns); a pvc:// model has no downloader, so the server fetches it.
    label_map = spec.label_map_uri if pvc else None
    server = spec.server or models.ServerSettings()
    return env_list(
        {
            "HOME": "/tmp",
            "DETECTOR_MODEL_URI": f"{PVC_MOUNT}/{pvc[1]}".rstrip("/") if pvc else MODEL_DIR,
            "DETECTOR_MODEL_NAME": spec.model_name or owner.name,
            "DETECTOR_LABEL_MAP_URI": label_map,
            "DETECTOR_HOST": "0.0.0.0",
            "DETECTOR_PORT": SERVER_PORT,
            "DETECTOR_GRPC_PORT": GRPC_PORT,
            "DETECTOR_MAX_BATCH_SIZE": server.max_batch_size,
            "DETECTOR_BATCH_TIMEOUT_MS": server.batch_timeout_ms,
            "DETECTOR_SCORE_THRESHOLD": server.score_threshold,
            "DETECTOR_MAX_DETECTIONS": server.max_detections,
            "DETECTOR_MAX_BODY_BYTES": server.max_body_bytes,
            "DETECTOR_MAX_IMAGE_PIXELS": server.max_image_pixels,
            "DETECTOR_MAX_REQUEST_PIXELS": server.max_request_pixels,
            "DETECTOR_MAX_PIXELS_IN_FLIGHT": server.max_pixels_in_flight,
            "DETECTOR_ADMISSION_TIMEOUT_MS": server.admission_timeout_ms,
            "DETECTOR_HEADER_TIMEOUT_SECONDS": server.header_timeout_seconds,
            "DETECTOR_BODY_TIMEOUT_SECONDS": server.body_timeout_seconds,
            "DETECTOR_MAX_CONNECTIONS": server.max_connections,
            "DETECTOR_GRPC_DEADLINE_SECONDS": server.grpc_deadline_seconds,
            **availability.drain_env(spec),
        }
    )


def env_from(spec: models.ObjectDetectorSpec) -> list[dict[str, Any]]:
    return [{"secretRef": {"name": spec.credentials_secret}}] if spec.credentials_secret else []


def storage_settings(spec: models.ObjectDetectorSpec) -> models.StorageSettings:
    return spec.storage or models.StorageSettings()


def download_max_bytes(spec: models.ObjectDetectorSpec) -> int:
    """The archive and what it unpacks to share the model volume: each may take half."""
    return models.quantity_bytes(storage_settings(spec).model_size_limit) // 2


def storage_resources(spec: models.ObjectDetectorSpec) -> dict[str, str]:
    """The server container's ephemeral-storage: the emptyDirs it mounts plus its logs. Requested
    (the scheduler places the pod where that disk is) and the limit (the kubelet evicts past it)."""
    sizes = storage_settings(spec)
    volumes = models.quantity_bytes(sizes.tmp_size_limit)
    if not spec.pvc_claim:
        volumes += models.quantity_bytes(sizes.model_size_limit)
    return {"request": models.quantity_string(volumes), "limit": models.quantity_string(volumes + LOG_ALLOWANCE_BYTES)}


def init_containers(spec: models.ObjectDetectorSpec, settings: Settings) -> list[dict[str, Any]]:
    if spec.pvc_claim:
        return []
    env = env_list({"HOME": "/tmp", DOWNLOAD_MAX_BYTES_ENV: download_max_bytes(spec)})
    args = ["--dest", MODEL_DIR]
    if spec.model_uri is not None:
        args = ["--model-uri", spec.model_uri, *args]
    elif spec.model_uri_from is not None:
        # A pre-signed URL is a credential: from the Secret into the downloader's environment only.
        ref = spec.model_uri_from.secret_key_ref
        env.append({"name": DOWNLOAD_URI_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    if spec.label_map_uri:
        args += ["--label-map", spec.label_map_uri]
    container: dict[str, Any] = {
        "name": "fetch-model",
        "image": image(spec, settings),
        "command": ["python", "-m", "inference_server.download"],
        "args": args,
        "env": env,
        "resources": INIT_RESOURCES,
        "securityContext": container_security(),
        # The downloader writes its one-line reason there; the operator shows it as ModelLoadFailed.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "model", "mountPath": "/models"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if spec.credentials_secret:
        container["envFrom"] = env_from(spec)
    return [container]


def server_container(
    owner: Owner, spec: models.ObjectDetectorSpec, settings: Settings, placement: Placement
) -> dict[str, Any]:
    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": HTTP_PORT_NAME},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    mount = (
        {"name": "model", "mountPath": PVC_MOUNT, "readOnly": True}
        if spec.pvc_claim
        else {"name": "model", "mountPath": "/models", "readOnly": True}
    )
    container: dict[str, Any] = {
        "name": "server",
        "image": image(spec, settings),
        "command": ["python", "-m", "inference_server"],
        "env": server_env(owner, spec),
        "ports": [
            {"name": HTTP_PORT_NAME, "containerPort": SERVER_PORT, "protocol": "TCP"},
            {"name": GRPC_PORT_NAME, "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        # Loading TensorFlow and warming the model up may take minutes: liveness waits for it.
        "startupProbe": availability.startup_probe(spec, READINESS_PATH, HTTP_PORT_NAME),
        "livenessProbe": probe("/v2/health/live", 10, 3),
        "readinessProbe": probe(READINESS_PATH, 5, 3),
        "resources": container_resources(spec, placement, storage_resources(spec)),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.credentials_secret:
        container["envFrom"] = env_from(spec)
    return container


def volumes(spec: models.ObjectDetectorSpec) -> list[dict[str, Any]]:
    pvc = spec.pvc_claim
    sizes = storage_settings(spec)
    model = (
        {"name": "model", "persistentVolumeClaim": {"claimName": pvc[0], "readOnly": True}}
        if pvc
        else {"name": "model", "emptyDir": {"sizeLimit": _size(sizes.model_size_limit)}}
    )
    return [model, {"name": "tmp", "emptyDir": {"sizeLimit": _size(sizes.tmp_size_limit)}}]


def _size(quantity: models.Quantity) -> str:
    return models.quantity_string(models.quantity_bytes(quantity))


def deployment(owner: Owner, spec: models.ObjectDetectorSpec, settings: Settings) -> dict[str, Any]:
    placement = gpu_placement(spec)
    pod_metadata: dict[str, Any] = {"labels": labels(owner.name)}
    if spec.pod_annotations:
        pod_metadata["annotations"] = dict(spec.pod_annotations)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        # With hundreds of Services in a namespace, service links would flood the environment.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The server's whole ending fits in it (availability.py): never cut short by SIGKILL.
        "terminationGracePeriodSeconds": availability.termination_grace_seconds(spec),
        "initContainers": init_containers(spec, settings),
        "containers": [server_container(owner, spec, settings, placement)],
        "volumes": volumes(spec),
    }
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
    if placement.node_selector:
        pod_spec["nodeSelector"] = placement.node_selector
    if placement.tolerations:
        pod_spec["tolerations"] = placement.tolerations
    # Spread over nodes and zones (availability.py), the user's own rules merged in.
    selector = selector_labels(owner.name)
    pod_spec["topologySpreadConstraints"] = availability.topology_spread(selector, spec.topology_spread_constraints)
    affinity = availability.zone_spread(selector, placement.affinity, spec.topology_spread_constraints)
    if affinity:
        pod_spec["affinity"] = affinity
    if not pod_spec["initContainers"]:
        del pod_spec["initContainers"]
    deployment_spec: dict[str, Any] = {
        "replicas": spec.replicas,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector_labels(owner.name)},
        "template": {"metadata": pod_metadata, "spec": pod_spec},
        # A new spec that fails keeps the old pods serving (CPU) or all but one (GPU, which
        # cannot surge on a full node): availability.py.
        "strategy": availability.rollout_strategy(GPU_RESOURCE in placement.limits),
        "progressDeadlineSeconds": availability.progress_deadline_seconds(spec),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(owner),
        "spec": deployment_spec,
    }


def service(owner: Owner, spec: models.ObjectDetectorSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(owner),
        "spec": {
            "type": spec.service_type,
            "selector": selector_labels(owner.name),
            "ports": [
                {"name": HTTP_PORT_NAME, "port": spec.port, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"},
                # appProtocol tells meshes and gateways to route it as HTTP/2 gRPC.
                {"name": GRPC_PORT_NAME, "port": spec.grpc_port, "targetPort": GRPC_PORT_NAME, "protocol": "TCP",
                 "appProtocol": "grpc"},
            ],
        },
    }


def pod_disruption_budget(owner: Owner, spec: models.ObjectDetectorSpec) -> dict[str, Any]:
    """How many replicas node drains and other evictions may take at once (availability.py)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(owner),
        "spec": availability.disruption_budget(spec, selector_labels(owner.name)),
    }

# DNS for a detector whose egress is restricted: the cluster DNS pods (kube-dns / CoreDNS's usual
# labels in kube-system).
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def network_policy(owner: Owner, spec: models.ObjectDetectorSpec, settings: Settings) -> dict[str, Any] | None:
    """The NetworkPolicy <name>-detector, or None when spec.networkPolicy.enabled is false.

    Ingress: the http and grpc container ports from spec.networkPolicy.allowFrom (default: pods of
    the same namespace), and the http port from the monitoring namespace of the operator's settings:
    /metrics is served on the http port and NetworkPolicy is L4, so that namespace reaches the whole
    http port, the inference API included. Egress: unrestricted unless spec.networkPolicy.egress is
    set (then DNS plus those rules): the init container's download needs the model store, which a
    NetworkPolicy can name only by IP, and init container and server share one pod network.
    """
    wanted = spec.network_policy or models.NetworkPolicySettings()
    if not wanted.enabled:
        return None
    inference_ports = [{"port": HTTP_PORT_NAME, "protocol": "TCP"}, {"port": GRPC_PORT_NAME, "protocol": "TCP"}]
    ingress: list[dict[str, Any]] = []
    # allowFrom: [] means nobody (a NetworkPolicy rule with an empty `from` would mean everybody).
    peers = [{"podSelector": {}}] if wanted.allow_from is None else [p.wire() for p in wanted.allow_from]
    if peers:
        ingress.append({"from": peers, "ports": inference_ports})
    if settings.monitoring_namespace_labels:
        ingress.append({
            "from": [{"namespaceSelector": {"matchLabels": dict(settings.monitoring_namespace_labels)}}],
            "ports": [{"port": HTTP_PORT_NAME, "protocol": "TCP"}],
        })
    policy_spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector_labels(owner.name)},
        "policyTypes": ["Ingress"],
        "ingress": ingress,
    }
    if wanted.egress is not None:
        policy_spec["policyTypes"] = ["Ingress", "Egress"]
        policy_spec["egress"] = [{"to": [DNS_PEER], "ports": DNS_PORTS}] + [
            {"to": [p.wire() for p in rule.to],
             **({"ports": [{"port": port, "protocol": "TCP"} for port in rule.ports]} if rule.ports else {})}
            for rule in wanted.egress
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(owner),
        "spec": policy_spec,
    }
