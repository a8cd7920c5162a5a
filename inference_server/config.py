"""Server settings from flags and DETECTOR_* environment variables (a flag beats its variable)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import limits


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
    # limits.py owns the pixel limits and says why these defaults; docs/design.md has the arithmetic.
    max_image_pixels: int = limits.MAX_IMAGE_PIXELS
    max_request_pixels: int = limits.MAX_REQUEST_PIXELS
    max_pixels_in_flight: int = limits.MAX_PIXELS_IN_FLIGHT
    admission_timeout_ms: float = limits.ADMISSION_TIMEOUT_MS
    # Slow clients: a request's headers, then its body, must arrive within these (408 otherwise);
    # at most max_connections HTTP connections and gRPC calls at once (503 / RESOURCE_EXHAUSTED beyond).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 64
    grpc_deadline_seconds: float = 60.0  # for calls that bring no deadline of their own
    # Every gRPC connection is ended (GOAWAY, calls in flight get grpc_deadline_seconds more) after
    # about this long: pooled channels, which kube-proxy pins to one pod, spread over new pods
    # after a scale-up, and a call whose message never finishes arriving (gRPC starts a deadline
    # only once the message is in) holds its connection for this + grpc_deadline_seconds at most.
    grpc_max_connection_age_seconds: float = 300.0
    # The ending on SIGTERM: readiness turns false at once, new connections are still served for
    # drain_delay_seconds (while load balancers stop routing here), then the listeners close and
    # requests and calls in flight get up to drain_seconds. 0 by default so that Ctrl-C (or
    # `docker stop`) by hand ends at once; the operator's pods set both.
    drain_delay_seconds: float = 0.0
    drain_seconds: float = 20.0
    # Remote models land here; the pod's only writable place is /tmp.
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "detector-model")

    @property
    def limits(self) -> limits.Limits:
        return limits.Limits(
            max_images=self.max_batch_size, max_image_pixels=self.max_image_pixels,
            max_request_pixels=self.max_request_pixels, max_pixels_in_flight=self.max_pixels_in_flight,
            admission_timeout_ms=self.admission_timeout_ms,
        )


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


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


# flag, environment variable, type, help ("(default: ...)" is added from ServerConfig)
_OPTIONS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--model-uri", "DETECTOR_MODEL_URI", str, "gs://, s3://, http(s):// archive, file:// or a local directory"),
    ("--model-name", "DETECTOR_MODEL_NAME", str, "name used in the URLs"),
    ("--label-map", "DETECTOR_LABEL_MAP_URI", str, "label_map.pbtxt or JSON {\"1\": \"person\"} (none: COCO)"),
    ("--host", "DETECTOR_HOST", str, "address to listen on"),
    ("--port", "DETECTOR_PORT", _positive_int, "HTTP port to listen on"),
    ("--grpc-port", "DETECTOR_GRPC_PORT", _port, "gRPC port (0 turns gRPC off)"),
    ("--max-batch-size", "DETECTOR_MAX_BATCH_SIZE", _positive_int,
     "images per TensorFlow call, and the most images one request may carry"),
    ("--batch-timeout-ms", "DETECTOR_BATCH_TIMEOUT_MS", _non_negative,
     "longest wait for a batch while the model is busy; an idle model takes a request at once"),
    ("--score-threshold", "DETECTOR_SCORE_THRESHOLD", _fraction, "default :detect threshold"),
    ("--max-detections", "DETECTOR_MAX_DETECTIONS", _positive_int, "most boxes :detect returns"),
    ("--max-body-bytes", "DETECTOR_MAX_BODY_BYTES", _positive_int, "largest request body, in bytes"),
    ("--max-image-pixels", "DETECTOR_MAX_IMAGE_PIXELS", _positive_int,
     "largest image (width x height) any protocol accepts; :detect reads it from the image header"),
    ("--max-request-pixels", "DETECTOR_MAX_REQUEST_PIXELS", _positive_int,
     "most pixels in one request (all its images)"),
    ("--max-pixels-in-flight", "DETECTOR_MAX_PIXELS_IN_FLIGHT", _positive_int,
     "most pixels being decoded and inferred across the server at once; more requests wait, then get 429"),
    ("--admission-timeout-ms", "DETECTOR_ADMISSION_TIMEOUT_MS", _non_negative,
     "how long a request waits for room in --max-pixels-in-flight before 429 / RESOURCE_EXHAUSTED"),
    ("--header-timeout-seconds", "DETECTOR_HEADER_TIMEOUT_SECONDS", _positive,
     "an HTTP request's headers must arrive within this, from the connection or the previous response (408)"),
    ("--body-timeout-seconds", "DETECTOR_BODY_TIMEOUT_SECONDS", _positive,
     "an HTTP request's whole body must arrive within this after its headers (408)"),
    ("--max-connections", "DETECTOR_MAX_CONNECTIONS", _positive_int,
     "most open HTTP connections (503 beyond) and most concurrent gRPC calls (RESOURCE_EXHAUSTED beyond)"),
    ("--grpc-deadline-seconds", "DETECTOR_GRPC_DEADLINE_SECONDS", _positive,
     "deadline of a gRPC call that sets none (DEADLINE_EXCEEDED after it)"),
    ("--grpc-max-connection-age-seconds", "DETECTOR_GRPC_MAX_CONNECTION_AGE_SECONDS", _positive,
     ("a gRPC connection is ended (GOAWAY; clients reconnect, calls in flight get --grpc-deadline-seconds) "
      "after about this long, so pooled channels rebalance over new pods")),
    ("--drain-delay-seconds", "DETECTOR_DRAIN_DELAY_SECONDS", _non_negative,
     ("after SIGTERM, report not ready but keep serving new connections this long, so load balancers "
     "stop routing here first")),
    ("--drain-seconds", "DETECTOR_DRAIN_SECONDS", _non_negative,
     "then the longest wait for HTTP requests and gRPC calls in flight"),
]
_DEFAULTS = {f.name: f.default for f in fields(ServerConfig) if f.default is not MISSING}


def parse_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> ServerConfig:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m inference_server", description=__doc__)
    for flag, var, kind, text in _OPTIONS:
        # argparse applies `type` to string defaults too, so a bad variable fails like a bad flag.
        dest = flag[2:].replace("-", "_")
        shown = " (default: %(default)s)" if dest in _DEFAULTS and _DEFAULTS[dest] is not None else ""
        parser.add_argument(flag, type=kind, default=env.get(var, _DEFAULTS.get(dest)),
                            help=f"{text}{shown} [env {var}]")
    args = vars(parser.parse_args(argv))
    if not args["model_uri"]:
        parser.error("--model-uri (or DETECTOR_MODEL_URI) is required")
    args["label_map_uri"] = args.pop("label_map")
    port = args["port"] or ServerConfig.port
    grpc_port = ServerConfig.grpc_port if args["grpc_port"] is None else args["grpc_port"]
    if grpc_port == port:
        parser.error(f"--grpc-port and --port are both {port}: gRPC needs a port of its own (0 turns it off)")
    _check_limits(parser, args)
    return ServerConfig(**{k: v for k, v in args.items() if v is not None})


def _check_limits(parser: argparse.ArgumentParser, args: dict[str, object]) -> None:
    """Limits that contradict each other would refuse every request: a start-up error instead."""
    image, request, flight = args["max_image_pixels"], args["max_request_pixels"], args["max_pixels_in_flight"]
    assert isinstance(image, int) and isinstance(request, int) and isinstance(flight, int)
    if request < image:
        parser.error(f"--max-request-pixels ({request}) is below --max-image-pixels ({image}): "
                     "a request of one image that large could never be served")
    if flight < request:
        parser.error(f"--max-pixels-in-flight ({flight}) is below --max-request-pixels ({request}): "
                     "a request that large could never be admitted")
