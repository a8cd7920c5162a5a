"""Run the operator's pod template with podman, under the pod's own restrictions.

Built on tests/support/pods.py: `plan()` has already refused any field of the template it does
not understand, and every field of the plan is honoured here:

- one podman pod = one network namespace for all containers, its declared ports published on
  127.0.0.1 only (free ports); the pod's network is slirp4netns with allow_host_loopback, so the
  host's 127.0.0.1 is HOST_LOOPBACK inside (a test's local HTTP server stays on loopback).
  `network="host"` is for a template that says hostNetwork (or a test that declares it as a
  deviation): ports are then the container ports themselves;
- init containers run one after another, each to completion, before the containers start;
- securityContext: readOnlyRootFilesystem -> --read-only without podman's writable tmpfs on
  /tmp, /var/tmp and /run (a pod has none); runAsUser/runAsGroup -> --user; fsGroup ->
  --group-add and the group of every emptyDir (setgid, 0777: what the kubelet does); drop ->
  --cap-drop; allowPrivilegeEscalation: false -> no-new-privileges; seccomp RuntimeDefault ->
  podman's default profile (no profile -> unconfined, as the kubelet's default); runAsNonRoot is
  checked against the user the container would run as, and refused like the kubelet would;
- emptyDirs are fresh host directories, a PVC a directory the test supplies, readOnly as
  declared; the env exactly as built (envFrom secrets first, explicit env wins);
- the termination message path is a host file (0666, as the kubelet makes it) bind-mounted
  writable, so the init container's one-line reason can be read back;
- probes: readiness is what wait_ready() polls. Declared deviations: liveness and startup probes
  restart nothing, and resources (accounting only) set no cgroup limits.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import localimages
import localprocs
from tests.support.pods import ContainerPlan, InitResult, PodPlan, Probe, wait_until_ready

HOST_LOOPBACK = "10.0.2.2"  # the host's 127.0.0.1, as the pod sees it (slirp4netns)
POD_NETWORK = "slirp4netns:allow_host_loopback=true"
PODMAN_ERRORS = {125, 126, 127}  # podman itself failed, the command cannot run, or is missing


class PodRefused(AssertionError):
    """What the kubelet would refuse to start (CreateContainerConfigError)."""


@dataclass
class InitExit(InitResult):
    termination_message: str = ""


def host_url(port: int, path: str = "/") -> str:
    """A URL for a server listening on the host's 127.0.0.1:port, as the pod reaches it."""
    return f"http://{HOST_LOOPBACK}:{port}{path}"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], env=localimages.env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise localimages.EngineError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


class PodmanPod:
    def __init__(self, pod: PodPlan, workdir: Path, *, name: str = "pod", network: str = POD_NETWORK,
                 volume_dirs: dict[str, Path] | None = None, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.pod, self.workdir, self.network = pod, workdir, network
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"
        self.secrets = secrets or {}
        self.dirs: dict[str, Path] = {}
        for volume in pod.volumes.values():
            supplied = (volume_dirs or {}).get(volume.name)
            if volume.kind == "persistentVolumeClaim" and supplied is None:
                raise PodRefused(f"volume {volume.name}: claim {volume.claim} needs a directory (volume_dirs)")
            self.dirs[volume.name] = supplied or self._empty_dir(volume.name)
        containers = [*pod.init_containers, *pod.containers]
        self.ports = {port: port if network == "host" else localprocs.free_port()
                      for c in containers for port in c.ports.values()}
        self.termination_logs = {c.name: self._termination_log(c.name) for c in containers}
        self.created = False

    def _fs_group(self) -> int | None:
        groups = {c.security.fs_group for c in [*self.pod.init_containers, *self.pod.containers]}
        return groups.pop() if len(groups) == 1 else None

    def _empty_dir(self, name: str) -> Path:
        path = self.workdir / "volumes" / name
        path.mkdir(parents=True)
        fs_group = self._fs_group()
        if fs_group is not None and os.geteuid() == 0:  # rootless podman maps the owner; 0777 is enough
            os.chown(path, -1, fs_group)
        os.chmod(path, 0o2777 if fs_group is not None else 0o777)
        return path

    def _termination_log(self, container: str) -> Path:
        path = self.workdir / "termination" / container
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.chmod(path, 0o666)
        return path

    def container_name(self, container: str) -> str:
        return f"{self.name}-{container}"

    def _user(self, c: ContainerPlan) -> str | None:
        """--user, after the kubelet's runAsNonRoot check against the image's own user."""
        image_user = json.loads(podman("image", "inspect", c.image).stdout)[0]["Config"].get("User") or "0"
        uid = c.security.run_as_user if c.security.run_as_user is not None else image_user.split(":")[0]
        if c.security.run_as_non_root and (not str(uid).isdigit() or int(uid) == 0):
            raise PodRefused(f"{c.name}: runAsNonRoot and the image runs as {image_user!r} "
                             "(non-numeric or root): the kubelet would refuse to start it")
        if c.security.run_as_user is None:
            return None
        group = c.security.run_as_group
        return f"{c.security.run_as_user}:{group}" if group is not None else str(c.security.run_as_user)

    def options(self, c: ContainerPlan) -> list[str]:
        """The `podman run` options that make this container what the pod template says."""
        s = c.security
        opts = ["--pod", self.name, "--name", self.container_name(c.name), "--pull=never"]
        user = self._user(c)
        if user:
            opts += ["--user", user]
        if s.fs_group is not None:
            opts += ["--group-add", str(s.fs_group)]
        if s.read_only_root_filesystem:
            opts += ["--read-only", "--read-only-tmpfs=false"]
        opts += [a for cap in s.drop_capabilities for a in ("--cap-drop", cap)]
        if not s.allow_privilege_escalation:
            opts += ["--security-opt", "no-new-privileges"]
        if s.seccomp is None:
            opts += ["--security-opt", "seccomp=unconfined"]
        for m in c.mounts:
            mode = "ro" if m.read_only or self.pod.volumes[m.volume].read_only else "rw"
            opts += ["--volume", f"{self.dirs[m.volume]}:{m.path}:{mode}"]
        opts += ["--volume", f"{self.termination_logs[c.name]}:{c.termination_message_path}:rw"]
        env: dict[str, str] = {}
        for secret in c.env_from_secrets:
            if secret not in self.secrets:
                raise PodRefused(f"{c.name}: envFrom secret {secret!r} not supplied")
            env.update(self.secrets[secret])
        env.update(c.env)
        for name, (secret, key) in c.env_secret_keys.items():
            if key not in self.secrets.get(secret, {}):
                raise PodRefused(f"{c.name}: secretKeyRef {secret!r}/{key!r} not supplied")
            env[name] = self.secrets[secret][key]
        opts += [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
        # command replaces the image's ENTRYPOINT (the plan's argv is command + args); without
        # one, args follow the image's ENTRYPOINT.
        entrypoint = [] if c.image_entrypoint else ["--entrypoint", json.dumps(c.argv[:1])]
        opts += [*entrypoint, c.image, *(c.argv if c.image_entrypoint else c.argv[1:])]
        return opts

    def create(self) -> PodmanPod:
        publish = [] if self.network == "host" else [
            a for container_port, host in self.ports.items()
            for a in ("--publish", f"{localprocs.LOOPBACK}:{host}:{container_port}")]
        # With the host's network the pod has the host's UTS namespace too: no hostname of its own.
        hostname = [] if self.network == "host" else ["--hostname", self.name]
        podman("pod", "create", "--name", self.name, *hostname, "--network", self.network, *publish)
        self.created = True
        return self

    def run_init(self, timeout: float = 300) -> list[InitExit]:
        """Init containers in order, stopping at the first that fails (as the kubelet does)."""
        if not self.created:
            self.create()
        results = []
        for c in self.pod.init_containers:
            done = podman("run", *self.options(c), check=False, timeout=timeout)
            if done.returncode in PODMAN_ERRORS and not self._ran(c.name):
                raise localimages.EngineError(f"init container {c.name} did not start:\n{done.stderr[-3000:]}")
            results.append(InitExit(c.name, self.exit_code(c.name), self.logs(c.name),
                                    self.termination_message(c.name)))
            if results[-1].exit_code != 0:
                break
        return results

    def start(self) -> PodmanPod:
        if not self.created:
            self.create()
        for c in self.pod.containers:
            podman("run", "--detach", *self.options(c))
        return self

    def _inspect(self, container: str, field: str) -> str:
        return podman("inspect", "--format", f"{{{{{field}}}}}", self.container_name(container)).stdout.strip()

    def _ran(self, container: str) -> bool:
        return podman("container", "exists", self.container_name(container), check=False).returncode == 0

    def exit_code(self, container: str) -> int:
        return int(self._inspect(container, ".State.ExitCode"))

    def running(self, container: str) -> bool:
        return self._inspect(container, ".State.Status") == "running"

    def logs(self, container: str) -> str:
        done = podman("logs", self.container_name(container), check=False)
        return done.stdout + done.stderr

    def termination_message(self, container: str) -> str:
        return self.termination_logs[container].read_text()

    def exec(self, container: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A command inside the running container, as its own user."""
        return podman("exec", self.container_name(container), *argv, check=False, timeout=timeout)

    def url(self, port_name: str, container: str | None = None) -> str:
        c = next(c for c in self.pod.containers if container in (None, c.name) and port_name in c.ports)
        return f"http://{localprocs.LOOPBACK}:{self.ports[c.ports[port_name]]}"

    def wait_ready(self, timeout: float = 180) -> PodmanPod:
        """Until every container's readiness probe answers 200 on its published port."""
        def alive(c: ContainerPlan) -> None:
            if not self.running(c.name):
                raise RuntimeError(f"{c.name} is not running (exit {self.exit_code(c.name)}):\n"
                                   f"{self.logs(c.name)[-3000:]}")

        def url(c: ContainerPlan, probe: Probe) -> str:
            port = probe.port if isinstance(probe.port, int) else c.ports[probe.port]
            return f"http://{localprocs.LOOPBACK}:{self.ports[port]}{probe.path}"

        wait_until_ready(self.pod, alive=alive, probe_url=url, timeout=timeout)
        return self

    def wait_exited(self, container: str, timeout: float = 120) -> int:
        localprocs.wait_for(lambda: not self.running(container), timeout=timeout, interval=0.25,
                            message=f"{container} to exit")
        return self.exit_code(container)

    def remove(self) -> None:
        if self.created:
            grace = self.pod.termination_grace_seconds
            podman("pod", "rm", "--force", "--time", str(grace), self.name, check=False, timeout=120 + grace)
            self.created = False

    def __enter__(self) -> PodmanPod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
