"""Kubernetes shows the text of /dev/termination-log as a container's termination message: the
downloader and the server write their one-line reason there before they exit."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# The container's terminationMessagePath; DETECTOR_TERMINATION_LOG names another file where none
# can be mounted there (tests/support/pods.py runs the pod's containers as local processes).
TERMINATION_LOG = Path(os.environ.get("DETECTOR_TERMINATION_LOG") or "/dev/termination-log")


def write_termination_log(message: str, path: Path = TERMINATION_LOG) -> None:
    """Only where the file exists (the kubelet creates it); elsewhere, stderr says it already."""
    if path.exists():
        with contextlib.suppress(OSError):
            path.write_text(message + "\n")
