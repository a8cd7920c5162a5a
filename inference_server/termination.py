"""Kubernetes shows the text of /dev/termination-log as a container's termination message: the
downloader and the server write their one-line reason there before they exit."""

from __future__ import annotations

from pathlib import Path

TERMINATION_LOG = Path("/dev/termination-log")


def write_termination_log(message: str, path: Path = TERMINATION_LOG) -> None:
    """Only where the file exists (the kubelet creates it); elsewhere, stderr says it already."""
    if path.exists():
        try:
            path.write_text(message + "\n")
        except OSError:
            pass
