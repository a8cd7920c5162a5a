"""The container engine: buildah/podman with the project's own storage and config, or docker.

Nothing goes to the system's container storage or /etc/containers: storage, run state and the
three config files live in ~/.cache/detector-operator/containers and reach buildah and podman
through CONTAINERS_STORAGE_CONF, CONTAINERS_CONF and CONTAINERS_REGISTRIES_CONF. The settings
are what works on a Debian host without a Docker engine (shared/notes/containers.md): runc,
not crun (crun refuses hybrid cgroups); cgroupfs and file events (no systemd); explicit ulimits
(without CAP_SYS_RESOURCE runc cannot raise the defaults it would copy from the host).
"""
from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from localprocs import CACHE

ROOT = CACHE / "containers"
LOGS = ROOT / "logs"
# Debian package for each command a step needs; installed with apt-get only when missing.
PACKAGES = {
    "buildah": "buildah", "podman": "podman", "runc": "runc", "catatonit": "catatonit",
    "slirp4netns": "slirp4netns", "mmdebstrap": "mmdebstrap",
}
ROOTLESS_PACKAGES = {"newuidmap": "uidmap", "fuse-overlayfs": "fuse-overlayfs"}
HEARTBEAT = 30.0


class EngineError(RuntimeError):
    """A build or container command failed; the message carries the log's tail and path."""


_started = time.monotonic()


def say(message: str) -> None:
    print(f"[images +{time.monotonic() - _started:5.0f}s] {message}", flush=True)


def ensure_commands(*commands: str) -> None:
    """apt-get install the Debian packages of the commands that are not on PATH."""
    wanted = dict(PACKAGES)
    if os.geteuid() != 0:
        wanted.update(ROOTLESS_PACKAGES)
        commands = (*commands, *ROOTLESS_PACKAGES)
    missing = sorted({wanted[c] for c in commands if shutil.which(c) is None})
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    say(f"installing Debian packages {' '.join(missing)} (apt-get, about a minute)")
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    still = [c for c in commands if shutil.which(c) is None]
    if still:
        raise EngineError(f"installed {missing} but {still} are still not on PATH")


def docker_works() -> bool:
    """A docker CLI that reaches a running engine (a CLI alone, as here, does not count)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def configure() -> dict[str, str]:
    """Write the storage, engine and registries config under ROOT; return the env that selects them."""
    for sub in ("storage", "run", "tmp", "networks", "logs"):
        (ROOT / sub).mkdir(parents=True, exist_ok=True)
    _write_if_changed(ROOT / "storage.conf", (
        "# Written by hack/localimages: the project's own container storage, outside any repository.\n"
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{ROOT / "storage"}"\n'
        f'runroot = "{ROOT / "run"}"\n'
    ))
    _write_if_changed(ROOT / "containers.conf", (
        "# Written by hack/localimages (see shared/notes/containers.md for why each line).\n"
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{ROOT / "run" / "events.log"}"\n'
        f'tmp_dir = "{ROOT / "tmp"}"\n'
        "[network]\n"
        f'network_config_dir = "{ROOT / "networks"}"\n'
    ))
    _write_if_changed(ROOT / "registries.conf", (
        "# Written by hack/localimages. Short names (FROM python:...) mean Docker Hub, as for docker.\n"
        'unqualified-search-registries = ["docker.io"]\n'
        'short-name-mode = "permissive"\n'
    ))
    return {
        "CONTAINERS_STORAGE_CONF": str(ROOT / "storage.conf"),
        "CONTAINERS_CONF": str(ROOT / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(ROOT / "registries.conf"),
    }


def env() -> dict[str, str]:
    """The process environment for buildah and podman with the project's config."""
    return {**os.environ, **configure()}


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 120,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A short engine command; its stderr is in the error when it fails."""
    done = subprocess.run(list(argv), env=env(), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise EngineError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.strip()[-3000:]}")
    return done


def run_logged(argv: Sequence[str], log: Path, *, label: str, show: str = r"(?!)",
               stdin: IO[bytes] | None = None, cwd: Path | None = None) -> None:
    """A long command: full output to `log`, the lines matching the regex `show` printed, and a
    heartbeat every 30 s so a cold build never looks hung."""
    shown = re.compile(show)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        out.write(f"$ {' '.join(argv)}\n")
        proc = subprocess.Popen(list(argv), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=stdin, cwd=cwd)
        assert proc.stdout is not None
        fd, pending = proc.stdout.fileno(), b""
        last, last_print = "", time.monotonic()
        while True:
            # Raw reads, not readline(): a buffered line would wait for the next heartbeat.
            wait = max(0.1, HEARTBEAT - (time.monotonic() - last_print))
            if select.select([fd], [], [], wait)[0]:
                chunk = os.read(fd, 65536)
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop() if chunk else b""
                for raw in lines:
                    line = raw.decode(errors="replace")
                    out.write(line + "\n")
                    if shown.match(line):
                        last = line.strip()[:120]
                        say(f"{label}: {last}")
                        last_print = time.monotonic()
                if not chunk:
                    break
            if time.monotonic() - last_print >= HEARTBEAT:
                say(f"still {label} ... (last step: {last or 'starting'})")
                last_print = time.monotonic()
        proc.stdout.close()
        code = proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise EngineError(f"{label} failed (exit {code}); full log: {log}\n{tail}")


class Engine:
    """The commands that differ between podman and docker."""

    def __init__(self, tool: str) -> None:
        self.tool = tool  # "podman" or "docker"

    def image_id(self, ref: str) -> str | None:
        done = run([self.tool, "image", "inspect", "--format", "{{.Id}}", ref], check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def pull(self, ref: str) -> bool:
        if self.tool == "podman":
            ref = ref if "/" in ref.split(":")[0] else f"docker.io/library/{ref}"
        done = run([self.tool, "pull", "--quiet", ref], check=False, timeout=600)
        return done.returncode == 0

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> None:
        """A root file system tarball as image `ref`, with Dockerfile-style `changes` (ENV, LABEL...)."""
        argv = [self.tool, "import", *(a for c in changes for a in ("--change", c)), str(tarball), ref]
        run(argv, timeout=600)
