"""The pod the operator's builders emit, as something a test can run.

`pod_template(spec)` is exactly what `builders.deployment()` puts in the Deployment for that
ObjectDetector spec. `plan(template)` reads it into containers, mounts, env and security
settings, and raises `UnsupportedPodField` for any field it does not understand: a runner built
on the plan (LocalPod here, the podman runner beside it) can then never drop a field silently.
`LocalPod` runs the plan as local processes: init containers one after another, then the
containers, with two declared deviations: every volume is a host directory (mount paths are
rewritten wherever they appear in argv and env; a volume mounted at /tmp becomes TMPDIR), and
declared container ports become free loopback ports (env values equal to a declared port are
rewritten, 0.0.0.0 becomes 127.0.0.1); a process cannot have a file bind-mounted at its
terminationMessagePath, so it is told a host file instead (DETECTOR_TERMINATION_LOG).
An emptyDir's sizeLimit is recorded, not enforced (the kubelet evicts; the downloader's own caps,
which the builders derive from it, are what the tests measure).
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import localprocs
from detector_operator import builders, models
from detector_operator.settings import Settings

DEFAULT_TERMINATION_LOG = "/dev/termination-log"

# Fields that only the scheduler, the API server or the kubelet's bookkeeping act on: understood,
# and nothing a runner of the containers has to do for them.
_POD_PLACEMENT = {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "serviceAccountName"}
_CONTAINER_ACCOUNTING = {"resources", "terminationMessagePolicy", "image"}
_TEMPLATE_META = {"labels", "annotations"}


class UnsupportedPodField(AssertionError):
    """The pod template holds something the runners do not know how to honour."""


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # "emptyDir" or "persistentVolumeClaim"
    claim: str | None = None
    read_only: bool = False
    size_limit: str | None = None  # an emptyDir's sizeLimit


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class Security:
    """The pod's and the container's securityContext merged (the container's wins)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    run_as_non_root: bool = False
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool = True
    drop_capabilities: tuple[str, ...] = ()
    seccomp: str | None = None


@dataclass(frozen=True)
class Probe:
    path: str
    port: str | int


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str
    argv: list[str]
    env: dict[str, str]
    env_from_secrets: list[str]
    # env name -> (Secret name, key): env[].valueFrom.secretKeyRef
    env_secret_keys: dict[str, tuple[str, str]]
    mounts: list[Mount]
    ports: dict[str, int]
    security: Security
    probes: dict[str, Probe]
    termination_message_path: str = DEFAULT_TERMINATION_LOG
    # No `command` in the template: argv is the args alone, run by the image's own ENTRYPOINT
    # (only a runner that runs the image can honour that).
    image_entrypoint: bool = False


@dataclass(frozen=True)
class PodPlan:
    volumes: dict[str, Volume]
    init_containers: list[ContainerPlan]
    containers: list[ContainerPlan]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # How long a stop waits for the containers to end before killing them, as the kubelet does.
    termination_grace_seconds: int = 30


def pod_template(spec: dict[str, Any], *, name: str = "sample", namespace: str = "test",
                 settings: Settings | None = None) -> dict[str, Any]:
    """The pod template the operator applies for an ObjectDetector with this (camelCase) spec."""
    owner = builders.Owner(name=name, namespace=namespace, uid="00000000-0000-0000-0000-000000000000")
    deployment = builders.deployment(owner, models.parse_spec(spec), settings or Settings())
    return deployment["spec"]["template"]


def _unknown(where: str, obj: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(obj) - known)
    if extra:
        raise UnsupportedPodField(f"{where}: no runner honours {extra}; teach tests/support/pods.py first")


def _security(pod: dict[str, Any], container: dict[str, Any], where: str) -> Security:
    merged = {**pod, **container}
    _unknown(f"{where}.securityContext", merged, {
        "runAsUser", "runAsGroup", "fsGroup", "runAsNonRoot", "readOnlyRootFilesystem",
        "allowPrivilegeEscalation", "capabilities", "seccompProfile"})
    caps = merged.get("capabilities") or {}
    _unknown(f"{where}.securityContext.capabilities", caps, {"drop"})
    seccomp = merged.get("seccompProfile") or {}
    if seccomp.get("type") not in (None, "RuntimeDefault"):
        raise UnsupportedPodField(f"{where}: seccompProfile {seccomp} (only RuntimeDefault is run)")
    return Security(
        run_as_user=merged.get("runAsUser"), run_as_group=merged.get("runAsGroup"),
        fs_group=pod.get("fsGroup"), run_as_non_root=bool(merged.get("runAsNonRoot")),
        read_only_root_filesystem=bool(merged.get("readOnlyRootFilesystem")),
        allow_privilege_escalation=merged.get("allowPrivilegeEscalation", True),
        drop_capabilities=tuple(caps.get("drop") or ()), seccomp=seccomp.get("type"),
    )


def _env(container: dict[str, Any], where: str) -> tuple[dict[str, str], list[str], dict[str, tuple[str, str]]]:
    env: dict[str, str] = {}
    secret_keys: dict[str, tuple[str, str]] = {}
    for item in container.get("env") or []:
        _unknown(f"{where}.env[{item.get('name')}]", item, {"name", "value", "valueFrom"})
        if "valueFrom" in item:
            _unknown(f"{where}.env[{item['name']}].valueFrom", item["valueFrom"], {"secretKeyRef"})
            ref = item["valueFrom"]["secretKeyRef"]
            _unknown(f"{where}.env[{item['name']}].valueFrom.secretKeyRef", ref, {"name", "key"})
            secret_keys[item["name"]] = (ref["name"], ref["key"])
            continue
        env[item["name"]] = item.get("value", "")
    secrets = []
    for source in container.get("envFrom") or []:
        _unknown(f"{where}.envFrom", source, {"secretRef"})
        secrets.append(source["secretRef"]["name"])
    return env, secrets, secret_keys


def _probes(container: dict[str, Any], where: str) -> dict[str, Probe]:
    probes = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(kind)
        if probe is None:
            continue
        _unknown(f"{where}.{kind}", probe, {"httpGet", "periodSeconds", "timeoutSeconds", "failureThreshold",
                                            "initialDelaySeconds", "successThreshold"})
        get = probe.get("httpGet") or {}
        _unknown(f"{where}.{kind}.httpGet", get, {"path", "port"})
        probes[kind] = Probe(path=get["path"], port=get["port"])
    return probes


def _container(pod_security: dict[str, Any], c: dict[str, Any], where: str) -> ContainerPlan:
    _unknown(where, c, {"name", "command", "args", "env", "envFrom", "volumeMounts", "ports", "securityContext",
                        "startupProbe", "livenessProbe", "readinessProbe", "terminationMessagePath",
                        "imagePullPolicy", *_CONTAINER_ACCOUNTING})
    if c.get("imagePullPolicy", "IfNotPresent") not in ("IfNotPresent", "Never"):
        raise UnsupportedPodField(f"{where}: imagePullPolicy {c['imagePullPolicy']} (runners use local images only)")
    env, secrets, secret_keys = _env(c, where)
    mounts = []
    for m in c.get("volumeMounts") or []:
        _unknown(f"{where}.volumeMounts", m, {"name", "mountPath", "readOnly"})
        mounts.append(Mount(m["name"], m["mountPath"], bool(m.get("readOnly"))))
    ports = {}
    for p in c.get("ports") or []:
        _unknown(f"{where}.ports", p, {"name", "containerPort", "protocol"})
        if p.get("protocol", "TCP") != "TCP":
            raise UnsupportedPodField(f"{where}.ports: {p} (TCP only)")
        ports[p["name"]] = p["containerPort"]
    return ContainerPlan(
        name=c["name"], image=c["image"], argv=[*(c.get("command") or []), *(c.get("args") or [])], env=env,
        env_from_secrets=secrets, env_secret_keys=secret_keys, mounts=mounts, ports=ports,
        security=_security(pod_security, c.get("securityContext") or {}, where), probes=_probes(c, where),
        termination_message_path=c.get("terminationMessagePath", DEFAULT_TERMINATION_LOG),
        image_entrypoint=not c.get("command"),
    )


def plan(template: dict[str, Any]) -> PodPlan:
    _unknown("template", template, {"metadata", "spec"})
    meta, pod = template.get("metadata") or {}, template["spec"]
    _unknown("template.metadata", meta, _TEMPLATE_META)
    _unknown("spec", pod, {"automountServiceAccountToken", "enableServiceLinks", "securityContext",
                           "initContainers", "containers", "volumes", "terminationGracePeriodSeconds",
                           *_POD_PLACEMENT})
    # Runners mount no token and inject no service variables: only a pod that asks for neither fits.
    if pod.get("automountServiceAccountToken", True) or pod.get("enableServiceLinks", True):
        raise UnsupportedPodField("spec: a service-account token or service links would have to be provided")
    volumes = {}
    for v in pod.get("volumes") or []:
        _unknown("spec.volumes", v, {"name", "emptyDir", "persistentVolumeClaim"})
        if "emptyDir" in v:
            _unknown(f"spec.volumes[{v['name']}].emptyDir", v["emptyDir"], {"sizeLimit"})
            volumes[v["name"]] = Volume(v["name"], "emptyDir", size_limit=v["emptyDir"].get("sizeLimit"))
        else:
            claim = v["persistentVolumeClaim"]
            _unknown("spec.volumes.persistentVolumeClaim", claim, {"claimName", "readOnly"})
            volumes[v["name"]] = Volume(v["name"], "persistentVolumeClaim", claim["claimName"],
                                        bool(claim.get("readOnly")))
    security = pod.get("securityContext") or {}
    return PodPlan(
        volumes=volumes,
        init_containers=[_container(security, c, f"initContainers[{c['name']}]")
                         for c in pod.get("initContainers") or []],
        containers=[_container(security, c, f"containers[{c['name']}]") for c in pod["containers"]],
        labels=dict(meta.get("labels") or {}), annotations=dict(meta.get("annotations") or {}),
        termination_grace_seconds=pod.get("terminationGracePeriodSeconds", 30),
    )


def wait_until_ready(pod: PodPlan, *, alive: Callable[[ContainerPlan], None],
                     probe_url: Callable[[ContainerPlan, Probe], str], timeout: float) -> None:
    """Poll until every container's readiness probe answers 200 (what a runner's wait_ready does).
    `alive` raises when a container has died, `probe_url` says where a runner exposes a probe."""
    def ready() -> bool:
        for container in pod.containers:
            alive(container)
            probe = container.probes.get("readinessProbe")
            if probe is None:
                continue
            try:
                if httpx.get(probe_url(container, probe), timeout=2).status_code != 200:
                    return False
            except httpx.TransportError:
                return False
        return True

    localprocs.wait_for(ready, timeout=timeout, interval=0.2, message="the pod's readiness probes")


@dataclass
class InitResult:
    name: str
    exit_code: int
    output: str


class LocalPod:
    """Runs a PodPlan as local processes. `volume_dirs` supplies host directories for volumes
    (a PVC's content, say); every other volume gets a fresh directory under `workdir`."""

    def __init__(self, pod: PodPlan, workdir: Path, *, volume_dirs: dict[str, Path] | None = None,
                 secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.pod, self.workdir = pod, workdir
        self.dirs = {name: (volume_dirs or {}).get(name) or workdir / "volumes" / name for name in pod.volumes}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self.secrets = secrets or {}
        self.ports = {name: localprocs.free_port() for c in pod.containers for name in c.ports}
        self.procs: dict[str, subprocess.Popen] = {}

    def _rewrite(self, container: ContainerPlan, text: str) -> str:
        # Longest mount path first, so /models/pvc is not caught by /models.
        for mount in sorted(container.mounts, key=lambda m: -len(m.path)):
            if text == mount.path or text.startswith(mount.path + "/"):
                return str(self.dirs[mount.volume]) + text[len(mount.path):]
        return text

    def command(self, container: ContainerPlan) -> tuple[list[str], dict[str, str]]:
        """The argv and environment a container runs with here."""
        if container.image_entrypoint:
            raise UnsupportedPodField(f"{container.name}: no command, and a local process cannot run the image's "
                                      "entry point (PodmanPod can)")
        argv = [self._rewrite(container, a) for a in container.argv]
        if argv[0] == "python":  # the image's interpreter is this one
            argv[0] = sys.executable
        declared = {str(p): str(self.ports[name]) for name, p in container.ports.items()}
        env = {k: self._rewrite(container, v) for k, v in container.env.items()}
        env = {k: declared.get(v, "127.0.0.1" if v == "0.0.0.0" else v) for k, v in env.items()}
        for secret in container.env_from_secrets:
            env = {**self.secrets[secret], **env}  # explicit env wins, as in Kubernetes
        for name, (secret, key) in container.env_secret_keys.items():
            env[name] = self.secrets[secret][key]
        env["DETECTOR_TERMINATION_LOG"] = str(self.termination_log(container))
        tmp = next((m for m in container.mounts if m.path == "/tmp"), None)
        if tmp is not None:  # in the pod, /tmp is that volume: temporary files go there, not to the host's /tmp
            env.setdefault("TMPDIR", str(self.dirs[tmp.volume]))
        base = {k: os.environ[k] for k in ("PATH", "LANG", "SYSTEMROOT") if k in os.environ}
        return argv, {**base, "TF_CPP_MIN_LOG_LEVEL": "2", **env}

    def termination_log(self, container: ContainerPlan) -> Path:
        """The host file standing for the container's terminationMessagePath (empty, as the kubelet makes it)."""
        path = self.workdir / "termination" / container.name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return path

    def run_init(self, timeout: float = 120) -> list[InitResult]:
        """Init containers in order, stopping at the first that fails (as the kubelet does)."""
        results = []
        for container in self.pod.init_containers:
            argv, env = self.command(container)
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=self.workdir)
            results.append(InitResult(container.name, done.returncode, done.stdout + done.stderr))
            if done.returncode != 0:
                break
        return results

    def start(self) -> LocalPod:
        for container in self.pod.containers:
            argv, env = self.command(container)
            self.procs[container.name] = localprocs.start(argv, self.log(container.name), env=env, cwd=self.workdir)
        return self

    def log(self, container: str) -> Path:
        return self.workdir / f"{container}.log"

    def url(self, port_name: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}"

    def wait_ready(self, timeout: float = 60) -> LocalPod:
        """Until every container's readiness probe answers 200."""
        def alive(container: ContainerPlan) -> None:
            proc = self.procs[container.name]
            if proc.poll() is not None:
                raise RuntimeError(f"{container.name} exited with {proc.returncode}:\n"
                                   f"{localprocs.tail(self.log(container.name))}")

        def url(container: ContainerPlan, probe: Probe) -> str:
            port = probe.port if isinstance(probe.port, int) else self.ports[probe.port]
            return f"http://127.0.0.1:{port}{probe.path}"

        wait_until_ready(self.pod, alive=alive, probe_url=url, timeout=timeout)
        return self

    def stop(self) -> dict[str, int | None]:
        grace = self.pod.termination_grace_seconds
        return {name: localprocs.stop(proc.pid, grace=grace) if proc.poll() is None else proc.returncode
                for name, proc in self.procs.items()}
