"""`python -m detector_operator` as a real subprocess, its log in a file (printed when a test fails)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import localprocs

from .kube import REPO

TEST_IMAGES = {"DETECTOR_CPU_IMAGE": "registry.local/detector-server:test-cpu",
               "DETECTOR_GPU_IMAGE": "registry.local/detector-server:test-gpu"}


class OperatorProcess:
    """env: added over the test's environment (DETECTOR_* of the caller's shell are dropped when
    `isolated`, so a Deployment's env can be replayed exactly)."""

    def __init__(self, log_dir: Path, *, standalone: bool = True, env: dict[str, str] | None = None,
                 isolated: bool = False, cwd: Path = REPO) -> None:
        self.log_path = log_dir / f"operator-{time.monotonic_ns()}.log"
        self.standalone = standalone
        self.port = localprocs.free_port()
        base = {k: v for k, v in os.environ.items() if not (isolated and k.startswith("DETECTOR_"))}
        defaults = {} if isolated else {"DETECTOR_LOG_LEVEL": "INFO", **TEST_IMAGES}
        self.env = {**base, **defaults, **(env or {}), "DETECTOR_LIVENESS_PORT": str(self.port)}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> OperatorProcess:
        args = [sys.executable, "-m", "detector_operator"] + (["--standalone"] if self.standalone else [])
        self.proc = localprocs.start(args, self.log_path, env=self.env, cwd=self.cwd)
        localprocs.wait_for(self.healthy, timeout=60, message=f"operator liveness on :{self.port} ({self.log_path})")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as rsp:
                return rsp.status == 200
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> int | None:
        if self.proc is None:
            return None
        return localprocs.stop(self.proc.pid, grace=20, sig=signal.SIGKILL if kill else signal.SIGTERM)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return localprocs.tail(self.log_path, lines)
