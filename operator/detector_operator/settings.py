"""Operator settings from environment variables (the table in docs/design.md).

Pure: `Settings.from_env(environ)` reads a mapping, so tests pass a dict instead of patching
os.environ.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from detector_operator import __version__

DEFAULT_CPU_IMAGE = f"ghcr.io/vision-mlops/detector-server:{__version__}-cpu"
DEFAULT_GPU_IMAGE = f"ghcr.io/vision-mlops/detector-server:{__version__}-gpu"
FIELD_MANAGER = "detector-operator"
# Tenancy (policy.py): what an ObjectDetector may ask of the operator. "*" in a list allows anything.
ANY = "*"
DEFAULT_SECRET_OPT_IN_LABEL = ("vision.mlops.dev/detector-credentials", "true")
DEFAULT_ALLOWED_SERVICE_TYPES = ("ClusterIP",)
# The monitoring namespace's label for the detectors' NetworkPolicy (/metrics is on the http port).
DEFAULT_MONITORING_NAMESPACE_LABELS = (("kubernetes.io/metadata.name", "monitoring"),)


class SettingsError(ValueError):
    """An environment variable has a value the operator cannot use."""


@dataclass(frozen=True)
class Settings:
    cpu_image: str = DEFAULT_CPU_IMAGE
    gpu_image: str = DEFAULT_GPU_IMAGE
    # Empty: every namespace (cluster-wide).
    watch_namespaces: tuple[str, ...] = ()
    log_level: str = "INFO"
    liveness_port: int = 8081
    peering_name: str = "detector-operator"
    cluster_domain: str = "cluster.local"
    # Tenancy: checked by policy.py before anything is applied (Ready=False, reason Forbidden).
    # Image prefixes a spec.image may start with; empty: the two server images' repositories.
    allowed_registries: tuple[str, ...] = ()
    # (key, value) a Secret named by spec.credentialsSecret must carry; None: any Secret.
    secret_opt_in_label: tuple[str, str] | None = DEFAULT_SECRET_OPT_IN_LABEL
    allowed_service_types: tuple[str, ...] = DEFAULT_ALLOWED_SERVICE_TYPES
    # Names, or prefixes ending in "*"; empty: no spec.serviceAccountName at all.
    allowed_service_accounts: tuple[str, ...] = ()
    # Annotation keys, or prefixes ending in "*".
    allowed_pod_annotations: tuple[str, ...] = (ANY,)
    # NetworkPolicy: namespaces (by label) that may scrape /metrics, i.e. reach the http port.
    monitoring_namespace_labels: tuple[tuple[str, str], ...] = DEFAULT_MONITORING_NAMESPACE_LABELS

    @property
    def image_sources(self) -> tuple[str, ...]:
        """Image prefixes spec.image may use: the allow-list, or by default the repositories of
        the operator's own server images (another tag of the same image, nothing else)."""
        if self.allowed_registries:
            return self.allowed_registries
        return tuple(sorted({_repository(self.cpu_image), _repository(self.gpu_image)}))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        def get(name: str, default: str) -> str:
            return environ.get(name, "").strip() or default

        level = get("DETECTOR_LOG_LEVEL", cls.log_level).upper()
        if not isinstance(logging.getLevelName(level), int):
            raise SettingsError(f"DETECTOR_LOG_LEVEL={level!r} is not a log level (DEBUG, INFO, ...)")
        port_text = get("DETECTOR_LIVENESS_PORT", str(cls.liveness_port))
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"DETECTOR_LIVENESS_PORT={port_text!r} is not a TCP port")
        namespaces = tuple(
            ns.strip() for ns in environ.get("DETECTOR_WATCH_NAMESPACES", "").split(",") if ns.strip()
        )
        def listed(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            if name not in environ:
                return default
            return tuple(item.strip() for item in environ[name].split(",") if item.strip())

        # A Service needs some type: empty means the default, not "none".
        service_types = listed("DETECTOR_ALLOWED_SERVICE_TYPES", ()) or cls.allowed_service_types
        unknown = set(service_types) - {"ClusterIP", "NodePort", "LoadBalancer", ANY}
        if unknown:
            raise SettingsError(
                f"DETECTOR_ALLOWED_SERVICE_TYPES: {', '.join(sorted(unknown))} is not a Service type"
                " (ClusterIP, NodePort, LoadBalancer or *)")
        return cls(
            cpu_image=get("DETECTOR_CPU_IMAGE", cls.cpu_image),
            gpu_image=get("DETECTOR_GPU_IMAGE", cls.gpu_image),
            watch_namespaces=namespaces,
            log_level=level,
            liveness_port=int(port_text),
            peering_name=get("DETECTOR_PEERING_NAME", cls.peering_name),
            cluster_domain=get("DETECTOR_CLUSTER_DOMAIN", cls.cluster_domain),
            allowed_registries=listed("DETECTOR_ALLOWED_REGISTRIES", cls.allowed_registries),
            secret_opt_in_label=_label_setting("DETECTOR_SECRET_OPT_IN_LABEL", environ),
            allowed_service_types=service_types,
            allowed_service_accounts=listed("DETECTOR_ALLOWED_SERVICE_ACCOUNTS", cls.allowed_service_accounts),
            allowed_pod_annotations=listed("DETECTOR_ALLOWED_POD_ANNOTATIONS", cls.allowed_pod_annotations),
            monitoring_namespace_labels=_selector_setting("DETECTOR_MONITORING_NAMESPACE_SELECTOR", environ),
        )


def _repository(image: str) -> str:
    """An image reference without its tag or digest: registry/path/name."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _label_setting(name: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """key=value, or * for no label check; unset or empty: the default label."""
    text = environ.get(name, "").strip()
    if not text:
        return DEFAULT_SECRET_OPT_IN_LABEL
    if text == ANY:
        return None
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SettingsError(f"{name}={text!r} is not key=value (or * for any Secret)")
    return key.strip(), value.strip()


def _selector_setting(name: str, environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A namespace label selector k=v[,k=v]; unset: the default; empty: no monitoring namespace."""
    if name not in environ:
        return DEFAULT_MONITORING_NAMESPACE_LABELS
    pairs = []
    for item in (i.strip() for i in environ[name].split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{name}: {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)
