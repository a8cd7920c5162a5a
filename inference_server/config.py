"""Server settings from flags and DETECTOR_* environment variables (a flag beats its variable)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ServerConfig:
    model_uri: str
    model_name: str = "detector"
    label_map_uri: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    grpc_port: int = 9000  # 0: no gRPC
    max_batch_size: int = 8
    batch_timeout_ms: float = 5.0
    score_threshold: float = 0.3
    max_detections: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    # Remote models land here; the pod's only writable place is /tmp.
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "detector-model")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


# flag, environment variable, type, help
_OPTIONS: list[tuple[str, str, type | object, str]] = [
    ("--model-uri", "DETECTOR_MODEL_URI", str, "gs://, s3://, http(s):// archive, file:// or a local directory"),
    ("--model-name", "DETECTOR_MODEL_NAME", str, "name used in the URLs (default: detector)"),
    ("--label-map", "DETECTOR_LABEL_MAP_URI", str, "label_map.pbtxt or JSON {\"1\": \"person\"} (default: COCO)"),
    ("--host", "DETECTOR_HOST", str, "address to listen on (default: 0.0.0.0)"),
    ("--port", "DETECTOR_PORT", _positive_int, "HTTP port to listen on (default: 8080)"),
    ("--grpc-port", "DETECTOR_GRPC_PORT", _port, "gRPC port (default: 9000; 0 turns gRPC off)"),
    ("--max-batch-size", "DETECTOR_MAX_BATCH_SIZE", _positive_int, "images per TensorFlow call (default: 8)"),
    ("--batch-timeout-ms", "DETECTOR_BATCH_TIMEOUT_MS", _non_negative,
     "longest wait for a batch while the model is busy; an idle model takes a request at once (default: 5)"),
    ("--score-threshold", "DETECTOR_SCORE_THRESHOLD", _fraction, "default :detect threshold (default: 0.3)"),
    ("--max-detections", "DETECTOR_MAX_DETECTIONS", _positive_int, "most boxes :detect returns (default: 100)"),
    ("--max-body-bytes", "DETECTOR_MAX_BODY_BYTES", _positive_int, "largest request body (default: 16 MiB)"),
]


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> ServerConfig:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m inference_server", description=__doc__)
    for flag, var, kind, text in _OPTIONS:
        # argparse applies `type` to string defaults too, so a bad variable fails like a bad flag.
        parser.add_argument(flag, type=kind, default=env.get(var), help=f"{text} [env {var}]")
    args = vars(parser.parse_args(argv))
    if not args["model_uri"]:
        parser.error("--model-uri (or DETECTOR_MODEL_URI) is required")
    args["label_map_uri"] = args.pop("label_map")
    port = args["port"] or ServerConfig.port
    grpc_port = ServerConfig.grpc_port if args["grpc_port"] is None else args["grpc_port"]
    if grpc_port == port:
        parser.error(f"--grpc-port and --port are both {port}: gRPC needs a port of its own (0 turns it off)")
    return ServerConfig(**{k: v for k, v in args.items() if v is not None})
