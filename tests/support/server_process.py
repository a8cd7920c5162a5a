"""Run `python -m inference_server` as a real subprocess on 127.0.0.1 and wait for it with a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


TEST_MODEL_NAME = "tiny"  # what the integration tests serve the tiny Zoo model as
SHARED_MAX_BODY = 4 * 1024 * 1024  # the shared test server's --max-body-bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, model_uri: str, *args: str, env: dict[str, str] | None = None, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{self.port}.log"
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        full_env.setdefault("TMPDIR", str(log_dir))  # each server downloads into its own place
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inference_server", "--model-uri", model_uri,
             "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_status(self, path: str, code: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                last = httpx.get(self.url + path, timeout=2).status_code
                if last == code:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{path} did not answer {code} within {timeout}s (last {last}):\n{self.log()[-3000:]}")

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        self.wait_status("/v2/health/ready", 200, timeout)
        return self

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
