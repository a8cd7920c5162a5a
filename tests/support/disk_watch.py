"""Run a process while measuring the disk it fills: the most bytes a set of directories held at
any moment of the run (allocated blocks, what fills a node's disk), sampled every few ms.

A safety net for tests of hostile input: past `kill_above` bytes (or `timeout` seconds) the
process is stopped, by its own PID, so a test of a bomb cannot fill the machine's disk when the
code under test fails to refuse it. The result says so (`killed`), and the test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Watched:
    returncode: int | None
    output: str
    peak_bytes: int
    seconds: float
    killed: str | None  # why the watch stopped the process, None when it ended by itself


def disk_bytes(roots: list[Path]) -> int:
    """Allocated bytes under the roots (links not followed; files vanishing mid-walk skipped)."""
    total = 0
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                with contextlib.suppress(FileNotFoundError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def run_watched(argv: list[str], *, env: dict[str, str], cwd: Path, watch: list[Path], kill_above: int,
                timeout: float, interval: float = 0.02) -> Watched:
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    peak, killed = 0, None
    while proc.poll() is None:
        peak = max(peak, disk_bytes(watch))
        if peak > kill_above:
            killed = f"wrote more than {kill_above} bytes"
        elif time.monotonic() - start > timeout:
            killed = f"still running after {timeout} s"
        if killed:
            proc.kill()
            break
        time.sleep(interval)
    proc.wait()
    seconds = time.monotonic() - start
    peak = max(peak, disk_bytes(watch))
    reader.join(10)
    proc.stdout.close()  # type: ignore[union-attr]
    return Watched(proc.returncode, "".join(chunks), peak, seconds, killed)
