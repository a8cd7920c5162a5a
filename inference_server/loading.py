"""Start-up work done off the event loop: fetch the model and label map, load, warm up."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from pathlib import Path

from redaction import scrub, secrets_of

from . import labels, storage
from .dataplane import DataPlane
from .download_limits import DownloadLimits
from .model import ModelError

log = logging.getLogger(__name__)


def _prepare(plane: DataPlane) -> None:
    cfg = plane.config
    model_dir = (plane.detector.path if plane.detector.ready
                 else storage.download(cfg.model_uri, cfg.cache_dir, DownloadLimits.from_env()))
    label_path = None
    if cfg.label_map_uri:  # a pvc:// model has no downloader: the server fetches the map itself
        label_path = storage.fetch_file(cfg.label_map_uri, cfg.cache_dir.parent / f"detector-{labels.DOWNLOADED}")
    elif model_dir is not None:
        label_path = labels.beside(Path(model_dir))
    plane.labels = labels.load(label_path)
    if not plane.detector.ready:
        plane.detector.load(model_dir)
    # TensorFlow leaves ~300k long-lived Python objects. Decoding one JSON tensor allocates
    # hundreds of thousands more, and every full collection would walk TensorFlow's heap again
    # (275 ms instead of 20 ms per :predict at 320x320). Freezing moves them out of its reach.
    gc.collect()
    gc.freeze()


async def load_model(plane: DataPlane) -> bool:
    """True once the model answers; False when it cannot load, and `plane.error` says why (scrubbed
    of secrets: readiness, model status, the log and the termination message are readable by
    others). The lifecycle (app.py) decides what a failure ends."""
    started = time.monotonic()
    try:
        await asyncio.to_thread(_prepare, plane)
    except Exception as exc:  # noqa: BLE001 - a background task must not fail silently
        if not isinstance(exc, (storage.StorageError, ModelError, labels.LabelMapError)):
            exc = RuntimeError(f"{storage.redact(plane.config.model_uri)}: {type(exc).__name__}: {exc}")
        secrets = secrets_of([plane.config.model_uri, plane.config.label_map_uri], os.environ)
        plane.error = scrub(str(exc), secrets)
        log.error("model load failed: %s", plane.error)
        return False
    plane.metrics.load_seconds.set(time.monotonic() - started)
    plane.metrics.ready.set(1)
    log.info("model %r ready in %.2fs", plane.config.model_name, time.monotonic() - started)
    return True
