"""Prometheus metrics on a per-app registry (two apps in one process never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "detector_requests", "HTTP and gRPC requests by endpoint, method (gRPC for gRPC) and status "
            "(an HTTP status code, or a gRPC status name)",
            ["endpoint", "method", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "detector_request_seconds", "HTTP and gRPC request latency by endpoint",
            ["endpoint"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "detector_batch_size", "images per TensorFlow call",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry,
        )
        self.inference = Histogram(
            "detector_inference_seconds", "time of one TensorFlow call (a whole batch)",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.load_seconds = Gauge(
            "detector_model_load_seconds", "time to download, load and warm up the model",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "detector_requests_in_flight", "requests being served, not counting /metrics", registry=self.registry
        )
        self.pixels_in_flight = Gauge(
            "detector_pixels_in_flight", "pixels admitted and not answered yet (at most --max-pixels-in-flight)",
            registry=self.registry,
        )
        self.ready = Gauge("detector_model_ready", "1 when the model serves requests", registry=self.registry)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def observe_request(self, endpoint: str, method: str, code: int | str, seconds: float) -> None:
        """code: an HTTP status code, or a gRPC status name such as "OK" or "INVALID_ARGUMENT"."""
        self.requests.labels(endpoint, method, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
