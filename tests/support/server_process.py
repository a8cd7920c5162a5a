"""Run `python -m inference_server` as a real subprocess on 127.0.0.1 (HTTP and gRPC on free ports)
and wait for it with a deadline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

import localprocs

TEST_MODEL_NAME = "tiny"  # what the integration tests serve the tiny Zoo model as
SHARED_MAX_BODY = 4 * 1024 * 1024  # the shared test server's --max-body-bytes


class ServerProcess:
    def __init__(self, model_uri: str, *args: str, env: dict[str, str] | None = None, log_dir: Path) -> None:
        self.port = localprocs.free_port()
        self.grpc_port = localprocs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"  # host:port, as gRPC clients take it
        self.log_path = log_dir / f"server-{self.port}.log"
        full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        full_env.setdefault("TMPDIR", str(log_dir))  # each server downloads into its own place
        self.proc = localprocs.start(
            [sys.executable, "-m", "inference_server", "--model-uri", model_uri,
             "--host", "127.0.0.1", "--port", str(self.port), "--grpc-port", str(self.grpc_port), *args],
            self.log_path, env=full_env,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_status(self, path: str, code: int, timeout: float = 60.0) -> None:
        last: list[int | None] = [None]

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                last[0] = httpx.get(self.url + path, timeout=2).status_code
            except httpx.TransportError:
                return False
            return last[0] == code

        try:
            localprocs.wait_for(answers, timeout=timeout, interval=0.1, message=f"{path} to answer {code}")
        except localprocs.WaitTimeout as exc:
            raise AssertionError(f"{exc} (last {last[0]}):\n{self.log()[-3000:]}") from None

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        self.wait_status("/v2/health/ready", 200, timeout)
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is not None:
            return self.proc.returncode
        return localprocs.stop(self.proc.pid, grace=timeout)
