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
from .download_limits import DownloadLimits
from .model import ModelError
from .state import ServerState
from .termination import write_termination_log

log = logging.getLogger(__name__)


def _prepare(state: ServerState) -> None:
    cfg = state.config
    model_dir = (state.detector.path if state.detector.ready
                 else storage.download(cfg.model_uri, cfg.cache_dir, DownloadLimits.from_env()))
    label_path = None
    if cfg.label_map_uri:  # a pvc:// model has no downloader: the server fetches the map itself
        label_path = storage.fetch_file(cfg.label_map_uri, cfg.cache_dir.parent / f"detector-{labels.DOWNLOADED}")
    elif model_dir is not None:
        label_path = labels.beside(Path(model_dir))
    state.labels = labels.load(label_path)
    if not state.detector.ready:
        state.detector.load(model_dir)
    # TensorFlow leaves ~300k long-lived Python objects. Decoding one JSON tensor allocates
    # hundreds of thousands more, and every full collection would walk TensorFlow's heap again
    # (275 ms instead of 20 ms per :predict at 320x320). Freezing moves them out of its reach.
    gc.collect()
    gc.freeze()


async def load_model(state: ServerState) -> None:
    started = time.monotonic()
    try:
        await asyncio.to_thread(_prepare, state)
    except Exception as exc:  # noqa: BLE001 - a background task must not fail silently
        if not isinstance(exc, (storage.StorageError, ModelError, labels.LabelMapError)):
            exc = RuntimeError(f"{storage.redact(state.config.model_uri)}: {type(exc).__name__}: {exc}")
        # /v2/health, the log and the termination message are all readable by others.
        secrets = secrets_of([state.config.model_uri, state.config.label_map_uri], os.environ)
        exc = RuntimeError(scrub(str(exc), secrets))
        state.error = str(exc)
        state.readiness_changed()
        log.error("model load failed: %s", exc)
        if state.on_fatal is not None:
            write_termination_log(f"model load failed: {exc}")
            state.on_fatal()
        return
    state.metrics.load_seconds.set(time.monotonic() - started)
    state.metrics.ready.set(1)
    state.readiness_changed()
    log.info("model %r ready in %.2fs", state.config.model_name, time.monotonic() - started)
