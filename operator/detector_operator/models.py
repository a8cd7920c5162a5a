"""The ObjectDetector API: the single source of truth for the CRD schema and the operator.

Pure: no kopf, no Kubernetes client. Field names are camelCase on the wire (aliases) and
snake_case in Python. Descriptions end up in the CRD, so `kubectl explain` reads them.
CEL rules (`x-kubernetes-validations`) are attached with `cel(...)`; crdgen.py moves them into
the schema and `validate_spec` repeats the ones the operator relies on, for objects created
before a rule existed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from redaction import redact_uri

GROUP = "vision.mlops.dev"
VERSION = "v1alpha1"
KIND = "ObjectDetector"
PLURAL = "objectdetectors"
SINGULAR = "objectdetector"
SHORT_NAMES = ["od"]
CATEGORIES = ["all", "ml"]

# The one list of URI schemes: the CRD's CEL rules, their messages and parse_spec are built from
# it (a label map cannot come from a claim: nothing would mount it).
MODEL_URI_SCHEMES = ("gs", "s3", "http", "https", "file", "pvc")
LABEL_MAP_URI_SCHEMES = ("gs", "s3", "http", "https", "file")
# Kubernetes names (DNS-1123): a label is one segment (model names, URL paths); a subdomain may
# have dots (claims, ServiceAccounts, Secrets). Unanchored, to be composed; *_NAME are anchored.
DNS1123_LABEL_RE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_RE = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
DNS1123_LABEL = f"^{DNS1123_LABEL_RE}$"
DNS1123_SUBDOMAIN = f"^{DNS1123_SUBDOMAIN_RE}$"


def uri_pattern(schemes: tuple[str, ...]) -> str:
    return "^(" + "|".join(schemes) + ")://.+"


def uri_message(schemes: tuple[str, ...]) -> str:
    names = [f"{s}://" for s in schemes]
    return f"must be a URI starting with {', '.join(names[:-1])} or {names[-1]}"


URI_PATTERN = uri_pattern(MODEL_URI_SCHEMES)
LABEL_MAP_URI_PATTERN = uri_pattern(LABEL_MAP_URI_SCHEMES)
# pvc://<claim>[/<path inside the claim>]; the claim is a DNS-1123 subdomain.
PVC_PATTERN = f"^pvc://{DNS1123_SUBDOMAIN_RE}(/.*)?$"
# A quantity such as "500m", "2Gi" or 1 (the CRD keeps it as int-or-string). The API server
# refuses a Deployment with a malformed one, so the operator checks before applying.
Quantity = int | str
QUANTITY_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$"
_QUANTITY_SUFFIX = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                    "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
                    "Ei": 2**60}
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


def quantity_bytes(quantity: Quantity) -> int:
    """A byte quantity ("4Gi", "500M", 1e9, 1024) as an integer number of bytes (rounded down)."""
    text = str(quantity).strip()
    match = re.match(QUANTITY_PATTERN, text)
    if not match:
        raise ValueError(f"{quantity!r} is not a quantity (like 512Mi or 4Gi)")
    suffix = match.group(2) or ""
    if suffix[:1] in ("e", "E") and suffix not in _QUANTITY_SUFFIX:
        return int(float(text))
    return int(float(text[: len(text) - len(suffix)]) * _QUANTITY_SUFFIX[suffix])


def quantity_string(count: int) -> str:
    """Bytes as a quantity in the largest binary unit that holds them exactly: 5368709120 -> "5Gi"."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = int(_QUANTITY_SUFFIX[suffix])
        if count and count % unit == 0:
            return f"{count // unit}{suffix}"
    return str(count)


def cel(rule: str, message: str) -> dict[str, Any]:
    """A CEL validation rule for `json_schema_extra`; crdgen turns it into x-kubernetes-validations."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message}]}


class _Model(BaseModel):
    # Unknown fields are pruned by the API server anyway; ignoring them keeps an older operator
    # working against a newer CRD.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The camelCase dict as stored in Kubernetes, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


URI_RULE = cel("self.matches('" + URI_PATTERN + "')", uri_message(MODEL_URI_SCHEMES))
LABEL_MAP_URI_RULE = cel("self.matches('" + LABEL_MAP_URI_PATTERN + "')", uri_message(LABEL_MAP_URI_SCHEMES))
PVC_RULE = cel(
    "!self.startsWith('pvc://') || self.matches('" + PVC_PATTERN + "')",
    "a pvc:// URI must be pvc://<claim-name>/<path>, with a lowercase DNS claim name",
)


class GpuSpec(_Model):
    """GPUs for each replica. Only valid with `hardware: gpu`."""

    model_config = ConfigDict(
        json_schema_extra=cel("self.count >= 1", "gpu.count must be at least 1"),
    )

    count: int = Field(
        1,
        description="Number of GPUs (nvidia.com/gpu) each replica gets. At least 1.",
    )
    product: str | None = Field(
        None,
        description=(
            "GPU model to schedule on, matched against the node label nvidia.com/gpu.product "
            "(for example NVIDIA-L4 or NVIDIA-A100-SXM4-80GB). Any GPU node when omitted."
        ),
    )


class ServerSettings(_Model):
    """Inference server tuning. Omitted fields keep the server's defaults, which keep a CPU pod
    inside its 4Gi memory limit (docs/design.md has the arithmetic): raise the pixel limits
    together with `resources.limits.memory`. The startup timeout and the drain delay are the
    pod's: their defaults are below."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.maxImagePixels) || !has(self.maxRequestPixels)"
                    " || self.maxRequestPixels >= self.maxImagePixels",
                    "message": "maxRequestPixels must be at least maxImagePixels",
                },
                {
                    "rule": "!has(self.maxRequestPixels) || !has(self.maxPixelsInFlight)"
                    " || self.maxPixelsInFlight >= self.maxRequestPixels",
                    "message": "maxPixelsInFlight must be at least maxRequestPixels",
                },
            ]
        }
    )

    max_batch_size: int | None = Field(
        None, ge=1, le=1024, description="Largest batch of images run through the model at once."
    )
    batch_timeout_ms: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description=(
            "The longest a request waits behind a busy model for its batch, in milliseconds"
            " (a request that finds the model idle runs at once)."
        ),
    )
    score_threshold: float | None = Field(
        None, ge=0, le=1, description="Detections scoring below this are dropped (0 to 1)."
    )
    max_detections: int | None = Field(
        None, ge=1, le=1000, description="Most detections returned per image."
    )
    max_body_bytes: int | None = Field(
        None, ge=1024, description="Largest request body accepted, in bytes."
    )
    max_image_pixels: int | None = Field(
        None, ge=1, description="Largest image (width x height) accepted by any API (server default 16 MP)."
    )
    max_request_pixels: int | None = Field(
        None, ge=1, description="Most pixels in one request, all its images together (default 16 MP)."
    )
    max_pixels_in_flight: int | None = Field(
        None,
        ge=1,
        description=(
            "Most pixels decoded and inferred at once in a pod (default 24 Mi, about 0.9 GiB);"
            " more requests wait up to admissionTimeoutMs, then get 429 / RESOURCE_EXHAUSTED."
        ),
    )
    admission_timeout_ms: int | None = Field(
        None, ge=0, le=60_000, description="How long a request waits for room in maxPixelsInFlight (default 2000)."
    )
    header_timeout_seconds: int | None = Field(
        None, ge=1, le=300, description="An HTTP request's headers must arrive within this (408; default 10)."
    )
    body_timeout_seconds: int | None = Field(
        None, ge=1, le=3600,
        description="An HTTP request's body must arrive within this after its headers (408; default 30).",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Most open HTTP connections and concurrent gRPC calls per pod "
        "(503 / RESOURCE_EXHAUSTED beyond; default 64).",
    )
    grpc_deadline_seconds: int | None = Field(
        None, ge=1, le=3600, description="Deadline of a gRPC call that sets none (default 60)."
    )
    startup_timeout_seconds: int = Field(
        600,
        ge=10,
        le=86_400,
        description=(
            "How long the server may take from its start to a loaded, warmed-up model (the "
            "download before it is the init container's and not counted). Until then liveness is "
            "not checked, so a slow load is never killed; past it the kubelet restarts the server."
        ),
    )
    drain_delay_seconds: int = Field(
        10,
        ge=0,
        le=300,
        description=(
            "On termination the server reports not ready at once but keeps serving new "
            "connections this long, so Services, kube-proxy and load balancers stop routing to it "
            "before it closes; then requests in flight get up to 20 s. The pod's "
            "terminationGracePeriodSeconds is this + 20 + 5."
        ),
    )


MIN_VOLUME_BYTES = 64 * 2**20


class StorageSettings(_Model):
    """The pod's scratch disk: each emptyDir gets this sizeLimit (the kubelet evicts a pod that
    writes more), the server container requests and is limited to their sum in ephemeral-storage,
    and the downloader may fetch half of modelSizeLimit and unpack half (the archive and its
    contents share the volume)."""

    model_size_limit: Quantity = Field(
        "4Gi",
        description=(
            "Size of the volume the model is downloaded into (emptyDir sizeLimit). The downloader "
            "refuses an archive that is, or unpacks to, more than half of it. Not used for pvc:// models."
        ),
    )
    tmp_size_limit: Quantity = Field("1Gi", description="Size of the pod's /tmp volume (emptyDir sizeLimit).")

    @field_validator("model_size_limit", "tmp_size_limit")
    @classmethod
    def _size(cls, value: Quantity) -> Quantity:
        if quantity_bytes(value) < MIN_VOLUME_BYTES:
            raise ValueError(f"{value!r} is below the 64Mi a model download or /tmp needs")
        return value



class SecretKeySelector(_Model):
    """A key of a Secret in the ObjectDetector's namespace (core/v1 SecretKeySelector)."""

    name: str = Field(..., min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN, description="The Secret's name.")
    key: str = Field(..., min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN,
                     description="The key whose value is the model URI.")


class ModelUriSource(_Model):
    """Where to read the model URI from, instead of writing it in the spec."""

    secret_key_ref: SecretKeySelector = Field(
        ...,
        description=(
            "A Secret key holding the model URI (for a pre-signed URL: its signature is a credential). "
            "The downloader reads it from its environment; it never appears in the spec, the pod's "
            "args, `kubectl get` or the status."
        ),
    )


class DisruptionSettings(_Model):
    """The detector's PodDisruptionBudget: how many replicas voluntary disruptions (node drains,
    cluster autoscaler scale-downs, anything using the Eviction API) may take at once."""

    max_unavailable: Quantity = Field(
        1,
        description=(
            "Replicas (or a percentage such as '50%') that evictions may take down at once; "
            "default 1. With a single replica, 1 lets a drain evict it (serving stops until its "
            "replacement is ready) rather than hang; 0 blocks every eviction, so a drain waits "
            "forever for someone to intervene."
        ),
    )

    @field_validator("max_unavailable")
    @classmethod
    def _count_or_percent(cls, value: Quantity) -> Quantity:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"must not be negative, got {value}")
        if isinstance(value, str) and not re.match(r"^(100|[1-9]?[0-9])%$", value):
            raise ValueError(f"{value!r} is not a count or a percentage from 0% to 100%")
        return value


class ResourceOverrides(_Model):
    """Compute resources for the inference server container, merged over the defaults."""

    requests: dict[str, Quantity] | None = Field(
        None, description="Resource requests, e.g. {cpu: '2', memory: 4Gi}."
    )
    limits: dict[str, Quantity] | None = Field(
        None, description="Resource limits, e.g. {memory: 8Gi}. The GPU limit comes from `gpu`."
    )

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, Quantity] | None) -> dict[str, Quantity] | None:
        for name, quantity in (value or {}).items():
            if isinstance(quantity, str) and not re.match(QUANTITY_PATTERN, quantity):
                raise ValueError(f"{name}: {quantity!r} is not a quantity (like 500m, 2 or 4Gi)")
        return value


class Toleration(_Model):
    """A Kubernetes toleration (core/v1 Toleration)."""

    key: str | None = Field(None, description="Taint key the toleration applies to.")
    operator: Literal["Exists", "Equal"] | None = Field(
        None, description="Exists or Equal (default Equal)."
    )
    value: str | None = Field(None, description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; all effects when empty."
    )
    toleration_seconds: int | None = Field(
        None, description="For NoExecute: how long the pod stays bound after the taint appears."
    )


class LabelSelectorRequirement(_Model):
    """One expression of a label selector (meta/v1 LabelSelectorRequirement)."""

    key: str = Field(..., description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        ..., description="In, NotIn, Exists or DoesNotExist.")
    values: list[Annotated[str, Field(description="A label value.")]] | None = Field(
        None, description="Values for In and NotIn.")


class LabelSelector(_Model):
    """A label selector (meta/v1 LabelSelector); empty selects everything."""

    match_labels: dict[str, str] | None = Field(None, description="Labels that must all match.")
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        None, description="Expressions that must all match.")


class IPBlock(_Model):
    """A CIDR range (networking/v1 IPBlock)."""

    cidr: str = Field(..., description="For example 10.0.0.0/8 or 0.0.0.0/0.")
    except_: list[Annotated[str, Field(description="A CIDR.")]] | None = Field(
        None, alias="except", description="CIDRs left out of the range.")


class NetworkPeer(_Model):
    """Who may connect (networking/v1 NetworkPolicyPeer): pods by their namespace's labels and/or
    their own labels, or an IP range. A podSelector alone means pods of the detector's namespace."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.namespaceSelector) || has(self.podSelector) || has(self.ipBlock)",
         "message": "a peer needs a namespaceSelector, a podSelector or an ipBlock"},
        {"rule": "!has(self.ipBlock) || !(has(self.namespaceSelector) || has(self.podSelector))",
         "message": "an ipBlock peer stands alone (no namespaceSelector or podSelector beside it)"},
    ]})

    namespace_selector: LabelSelector | None = Field(None, description="Namespaces by label.")
    pod_selector: LabelSelector | None = Field(None, description="Pods by label.")
    ip_block: IPBlock | None = Field(None, description="An IP range (clients outside the cluster).")


class EgressRule(_Model):
    """Where the pods may connect (the model download, a label map)."""

    to: list[NetworkPeer] = Field(..., min_length=1, description="Destinations.")
    ports: list[Annotated[int, Field(ge=1, le=65535, description="A TCP port.")]] | None = Field(
        None, description="TCP ports at those destinations; every port when omitted.")


class NetworkPolicySettings(_Model):
    """The NetworkPolicy <name>-detector the operator keeps beside the detector's pods."""

    enabled: bool = Field(True, description="false: no NetworkPolicy (every pod may reach the detector).")
    allow_from: list[NetworkPeer] | None = Field(
        None,
        description=(
            "Who may reach the http and grpc ports. Omitted: pods in the detector's own namespace. "
            "An empty list: nobody but the monitoring namespace the operator's settings name "
            "(which may reach the http port, /metrics included: NetworkPolicy cannot tell URL paths apart)."
        ),
    )
    egress: list[EgressRule] | None = Field(
        None,
        description=(
            "Omitted: outbound traffic is not restricted (the downloader must reach the model's "
            "store, whose address a NetworkPolicy cannot name by host). Set: DNS plus these rules "
            "only, e.g. the object store's CIDR on port 443; an empty list allows DNS alone "
            "(enough for pvc:// models)."
        ),
    )


MODEL_URI_ONE_OF: dict[str, Any] = {
    "rule": "has(self.modelUri) != has(self.modelUriFrom)",
    "message": "set exactly one of modelUri and modelUriFrom (a Secret key holding the URI, for pre-signed URLs)",
}


class ObjectDetectorSpec(_Model):
    """Desired state of an ObjectDetector: which model to serve, how many replicas, on what."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.gpu) || self.hardware == 'gpu'",
                    "message": "gpu may only be set when hardware is gpu",
                },
                {
                    "rule": "!has(self.port) || !has(self.grpcPort) || self.port != self.grpcPort",
                    "message": "port and grpcPort must differ",
                },
                MODEL_URI_ONE_OF,
            ]
        }
    )

    model_uri: str | None = Field(
        None,
        min_length=1,
        max_length=2048,  # CEL cost estimation needs a bound for matches()
        description=(
            "Where the TensorFlow SavedModel lives (a TF2 Detection Model Zoo style directory "
            "or .tar.gz): gs://bucket/path, s3://bucket/path, http(s)://host/model.tar.gz, "
            "file:///path on the node, or pvc://claim-name/path to mount a "
            "PersistentVolumeClaim read-only. Exactly one of modelUri and modelUriFrom."
        ),
        json_schema_extra={
            "x-kubernetes-validations": URI_RULE["x-kubernetes-validations"]
            + PVC_RULE["x-kubernetes-validations"]
        },
    )
    model_uri_from: ModelUriSource | None = Field(
        None,
        description=(
            "The model URI from a Secret key ({secretKeyRef: {name, key}}), for URIs that are "
            "credentials themselves (pre-signed S3/GCS URLs). Exactly one of modelUri and modelUriFrom."
        ),
    )
    model_name: str | None = Field(
        None,
        max_length=63,
        pattern=DNS1123_LABEL,
        description="Name the model is served under (URL paths). Defaults to the object's name.",
    )
    label_map_uri: str | None = Field(
        None,
        max_length=2048,
        description=(
            "Optional label map (.pbtxt or .json) mapping class ids to names; same URI schemes "
            "as modelUri except pvc://."
        ),
        json_schema_extra=LABEL_MAP_URI_RULE,
    )
    replicas: int = Field(1, ge=0, description="Number of server replicas. 0 stops serving.")
    hardware: Literal["cpu", "gpu"] = Field(
        "cpu", description="cpu (default) or gpu. gpu uses the GPU server image and `gpu`."
    )
    gpu: GpuSpec | None = Field(
        None,
        description="GPU count and product per replica; only with hardware: gpu (count 1 if omitted).",
    )
    server: ServerSettings | None = Field(
        None, description="Inference server settings: batching, score threshold, detections."
    )
    resources: ResourceOverrides | None = Field(
        None, description="Requests and limits for the server container, merged over defaults."
    )
    node_selector: dict[str, str] | None = Field(
        None, description="Extra node labels to require; merged with the GPU selector."
    )
    tolerations: list[Toleration] | None = Field(
        None, description="Extra tolerations; merged with the GPU toleration."
    )
    affinity: dict[str, Any] | None = Field(
        None,
        description="A core/v1 Affinity for the server pods (nodeAffinity, podAntiAffinity...).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    topology_spread_constraints: list[
        Annotated[dict[str, Any], Field(description="A core/v1 TopologySpreadConstraint.")]
    ] | None = Field(
        None,
        description=(
            "core/v1 TopologySpreadConstraints for the server pods, merged with the default "
            "(one replica per node, kubernetes.io/hostname, ScheduleAnyway): yours replace ours on "
            "the same topologyKey; one without labelSelector selects this detector's pods."
        ),
    )
    image: str | None = Field(
        None, min_length=1, description="Server image override; defaults to the operator's setting."
    )
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Type of the Service in front of the replicas."
    )
    port: int = Field(8080, ge=1, le=65535, description="Port the Service listens on for HTTP.")
    grpc_port: int = Field(
        9000,
        ge=1,
        le=65535,
        description=(
            "Port the Service listens on for gRPC (Open Inference Protocol, TF Serving's "
            "PredictionService, grpc.health.v1); status.grpcAddress names it."
        ),
    )
    disruption: DisruptionSettings | None = Field(
        None,
        description="The PodDisruptionBudget (maxUnavailable 1 unless set): what node drains may take at once.",
    )
    pod_annotations: dict[str, str] | None = Field(
        None,
        description="Annotations added to the server pods (for example Prometheus or Istio).",
    )
    service_account_name: str | None = Field(
        None,
        pattern=DNS1123_SUBDOMAIN,
        description="ServiceAccount for the pods, e.g. for workload identity to a bucket.",
    )
    storage: StorageSettings | None = Field(
        None,
        description="Sizes of the model and /tmp volumes; the downloader's caps follow from them.",
    )
    credentials_secret: str | None = Field(
        None,
        pattern=DNS1123_SUBDOMAIN,
        description=(
            "Secret whose keys become environment variables of the downloader and the server "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3, ...)."
        ),
    )

    network_policy: NetworkPolicySettings | None = Field(
        None,
        description=(
            "Ingress (and optionally egress) limits for the detector's pods; on by default: only "
            "pods of the same namespace reach the inference ports."
        ),
    )

    @property
    def pvc_claim(self) -> tuple[str, str] | None:
        """(claim, path inside the claim) for a pvc:// model, else None."""
        if not self.model_uri or not self.model_uri.startswith("pvc://"):
            return None
        claim, _, path = self.model_uri.removeprefix("pvc://").partition("/")
        return claim, path


class Condition(_Model):
    """A status condition in the metav1.Condition shape."""

    type: str = Field(..., description="Ready, Progressing or Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(..., description="True, False or Unknown.")
    reason: str = Field(..., description="CamelCase reason, e.g. Serving or Unschedulable.")
    message: str = Field("", description="Human-readable details.")
    last_transition_time: str = Field(
        ..., description="When status last changed (RFC 3339); unchanged on same-status updates."
    )
    observed_generation: int | None = Field(
        None, description="The ObjectDetector generation this condition was computed for."
    )


class ObjectDetectorStatus(_Model):
    """Observed state, written by the operator only."""

    observed_generation: int | None = Field(
        None, description="The ObjectDetector generation the operator last acted on."
    )
    replicas: int | None = Field(None, description="Server pods that exist (scale subresource).")
    ready_replicas: int | None = Field(None, description="Server pods that are ready to serve.")
    selector: str | None = Field(
        None, description="Label selector of the server pods (scale subresource, HPA)."
    )
    url: str | None = Field(None, description="In-cluster HTTP URL of the Service.")
    grpc_address: str | None = Field(
        None, description="In-cluster gRPC address (host:port) of the Service."
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Progressing and Degraded.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


class InvalidSpec(ValueError):
    """The spec cannot be served; the message says why, in words a user can act on."""


def parse_spec(raw: dict[str, Any] | None) -> ObjectDetectorSpec:
    """Validate a spec as stored in Kubernetes, repeating the CRD's CEL rules.

    The API server normally enforces them; an object admitted under an older CRD might not be.
    """
    try:
        spec = ObjectDetectorSpec.model_validate(raw or {})
    except ValidationError as e:
        problems = "; ".join(
            f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise InvalidSpec(problems) from None
    if (spec.model_uri is None) == (spec.model_uri_from is None):
        raise InvalidSpec(f"spec: {MODEL_URI_ONE_OF['message']}")
    # The URI as messages show it: a pre-signed URL's signature is a credential (status is public).
    shown = redact_uri(spec.model_uri or "")
    if spec.model_uri is not None and not re.match(URI_PATTERN, spec.model_uri):
        raise InvalidSpec(f"spec.modelUri {shown!r}: {URI_RULE['x-kubernetes-validations'][0]['message']}")
    if spec.model_uri is not None and spec.model_uri.startswith("pvc://") and not re.match(PVC_PATTERN, spec.model_uri):
        raise InvalidSpec(f"spec.modelUri {shown!r}: {PVC_RULE['x-kubernetes-validations'][0]['message']}")
    if spec.label_map_uri is not None and not re.match(LABEL_MAP_URI_PATTERN, spec.label_map_uri):
        raise InvalidSpec(f"spec.labelMapUri {redact_uri(spec.label_map_uri)!r}: "
                          f"{LABEL_MAP_URI_RULE['x-kubernetes-validations'][0]['message']}")
    if spec.gpu is not None and spec.hardware != "gpu":
        raise InvalidSpec("spec.gpu may only be set when hardware is gpu")
    if spec.gpu is not None and spec.gpu.count < 1:
        raise InvalidSpec("spec.gpu.count must be at least 1")
    if spec.port == spec.grpc_port:
        raise InvalidSpec("spec.port and spec.grpcPort must differ")
    return spec
