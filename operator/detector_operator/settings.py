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
        return cls(
            cpu_image=get("DETECTOR_CPU_IMAGE", cls.cpu_image),
            gpu_image=get("DETECTOR_GPU_IMAGE", cls.gpu_image),
            watch_namespaces=namespaces,
            log_level=level,
            liveness_port=int(port_text),
            peering_name=get("DETECTOR_PEERING_NAME", cls.peering_name),
            cluster_domain=get("DETECTOR_CLUSTER_DOMAIN", cls.cluster_domain),
        )
