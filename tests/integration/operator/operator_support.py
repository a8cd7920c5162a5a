"""Helpers for the operator's cluster tests: the operator as a process, and kubectl one-liners.

(A uniquely named module rather than conftest, so `import` cannot pick up another conftest.)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.cluster_support import kubectl, wait_for

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples"
CRD_NAME = "objectdetectors.vision.mlops.dev"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OperatorProcess:
    """`python -m detector_operator` with its log in a file (printed when a test fails)."""

    def __init__(self, log_dir: Path, *, standalone: bool = True, env: dict[str, str] | None = None):
        self.log_path = log_dir / f"operator-{time.monotonic_ns()}.log"
        self.standalone = standalone
        self.extra_env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {**os.environ, "DETECTOR_LIVENESS_PORT": str(self.port), "DETECTOR_LOG_LEVEL": "INFO",
               "DETECTOR_CPU_IMAGE": "registry.local/detector-server:test-cpu",
               "DETECTOR_GPU_IMAGE": "registry.local/detector-server:test-gpu", **self.extra_env}
        args = [sys.executable, "-m", "detector_operator"] + (["--standalone"] if self.standalone else [])
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(self.healthy, timeout=60, message=f"operator liveness on :{self.port} ({self.log_path})")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as rsp:
                return rsp.status == 200
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def sample(name: str, **spec_changes: Any) -> dict[str, Any]:
    body = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    body["spec"].update(spec_changes)
    return body


def detector(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector",
            "metadata": {"name": name}, "spec": {"modelUri": "gs://models/ssd.tar.gz", **spec}}


def apply(namespace: str, *objects: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-n", namespace, "-f", "-",
                   input="\n---\n".join(json.dumps(o) for o in objects), check=check)


def get_json(namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(kubectl("get", "-n", namespace, *what, "-o", "json").stdout)


def condition(namespace: str, name: str, type_: str = "Ready") -> dict[str, Any] | None:
    od = get_json(namespace, f"od/{name}")
    return next((c for c in od.get("status", {}).get("conditions", []) if c["type"] == type_), None)


def wait_reason(namespace: str, name: str, reason: str, *, timeout: float = 60,
                type_: str = "Ready") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = condition(namespace, name, type_)
        return c if c and c["reason"] == reason else None
    return wait_for(check, timeout=timeout, message=f"od/{name} {type_} reason {reason}")


def wait_ready(namespace: str, *names: str, timeout: int = 90) -> None:
    """What a user runs: kubectl wait --for=condition=Ready."""
    kubectl("wait", "-n", namespace, "--for=condition=Ready", *[f"od/{n}" for n in names],
            f"--timeout={timeout}s", timeout=timeout + 15)


def events(namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(namespace, "events", "--field-selector",
                     f"involvedObject.kind=ObjectDetector,involvedObject.name={name}")["items"]
    return items
