"""Helpers for tests that use the local control plane: the real kubectl and deadline polling."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from localcluster import kubectl_path

T = TypeVar("T")


def kubectl(*args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs the real kubectl against $KUBECONFIG; raises with kubectl's stderr when check fails."""
    result = subprocess.run([kubectl_path(), *args], input=input, text=True, capture_output=True,
                            timeout=timeout, env=os.environ.copy())
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def token_kubeconfig(token: str, dest: Path) -> Path:
    """A kubeconfig for the current cluster that authenticates with `token` only (no admin cert)."""
    admin = json.loads(Path(os.environ["KUBECONFIG"]).read_text())
    config = {**admin, "users": [{"name": "token", "user": {"token": token}}],
              "contexts": [{"name": "local", "context": {"cluster": admin["clusters"][0]["name"], "user": "token"}}],
              "current-context": "local"}
    dest.write_text(json.dumps(config))
    dest.chmod(0o600)
    return dest


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.5,
             message: str = "condition") -> T:
    """Polls `predicate` until it returns something truthy; fails with `message` at the deadline.

    The last exception the predicate raised (if any) is chained, so a failure says why.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_error = None
        except (AssertionError, LookupError, ValueError, subprocess.SubprocessError) as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}") from last_error
        time.sleep(interval)
