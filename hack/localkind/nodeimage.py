"""The kind node image: the public kindest/node where it can be pulled, else a stand-in built offline.

`kind build node-image` cannot run without a Docker engine and registries (it pulls kindest/base
and the component images), so the stand-in is assembled the way kind's own images/base
Dockerfile does, from parts this machine can get:
  - a Debian bookworm rootfs (mmdebstrap: systemd, iptables, nftables, conntrack, runc, the CNI
    plugins, ...), cached as its own image keyed by its recipe (about 2 min cold);
  - kind's images/base/files (entrypoint, containerd and kubelet units, containerd config) from the
    kind module source, containerd from hack/install-kind.sh, kubelet/kubeadm/kubectl v1.37.1;
  - the images kubeadm runs (apiserver, controller-manager, scheduler, kube-proxy, etcd, CoreDNS,
    pause) and the NetworkPolicy enforcer (netpolicies.py), made here from the same pinned
    binaries, saved into the node and imported into its containerd by a unit that runs before the
    kubelet (nothing is pulled at `kind create`).
Everything is labelled a stand-in (the label names what it stands in for) and tagged by a key of
what it is built from, so a warm run is one `image exists`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localimages import STANDIN_LABEL, engine
from localimages.engine import Engine

from . import netpolicies
from .versions import HACK, Parts

ROOTFS_REPO = "localhost/detector-kind-rootfs"
NODE_REPO = "localhost/detector-kind-node"
PUBLIC_NODE = "docker.io/kindest/node"
SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# kind's base image package list, less NFS/iSCSI; plus Debian's runc and CNI plugins (kind builds its own).
PACKAGES = ("systemd", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
            "libseccomp2", "pigz", "fuse-overlayfs", "e2fsprogs", "bash", "ca-certificates", "curl", "jq", "procps",
            "socat", "runc", "containernetworking-plugins")
MMDEBSTRAP_OPTIONS = (
    "--variant=apt",
    f"--include={','.join(PACKAGES)}",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
ROOTFS_CONFIG = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
PRELOAD = "/kind/images/preload.tar"
# Imports the baked-in images into containerd before the kubelet starts (kubeadm would pull them).
PRELOAD_UNIT = f"""[Unit]
Description=Import the control-plane images baked into this stand-in node image
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for i in $(seq 30); do ctr version >/dev/null 2>&1 && break; sleep 1; done; \\
  ctr -n k8s.io images import {PRELOAD}'

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class NodeImage:
    ref: str
    standin: bool
    # The image tags kubeadm must be told about (etcd, CoreDNS): only the stand-in differs from
    # kubeadm's defaults (it serves the pinned etcd and CoreDNS under their own versions).
    kubeadm_image_tags: dict[str, str]


def _key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:12]


def rootfs_ref() -> str:
    return f"{ROOTFS_REPO}:{SUITE}-{_key(SUITE, *MIRRORS, *MMDEBSTRAP_OPTIONS, *ROOTFS_CONFIG)}"


def node_ref(parts: Parts) -> str:
    recipe = (Path(__file__).read_bytes().decode(), (HACK / "versions.env").read_text(), rootfs_ref(),
              netpolicies.image_ref(parts))  # the enforcer's tag carries its patch's hash
    return f"{NODE_REPO}:{parts.kubernetes}-{_key(*recipe)}"


def control_plane_refs(parts: Parts) -> dict[str, str]:
    """Image name kubeadm (or the containerd config) runs, by binary."""
    k, r = parts.kubernetes, "registry.k8s.io"
    return {
        "kube-apiserver": f"{r}/kube-apiserver:{k}",
        "kube-controller-manager": f"{r}/kube-controller-manager:{k}",
        "kube-scheduler": f"{r}/kube-scheduler:{k}",
        "kube-proxy": f"{r}/kube-proxy:{k}",
        "etcd": f"{r}/etcd:{parts.etcd}",
        "coredns": f"{r}/coredns/coredns:{parts.coredns}",
    }


PAUSE_TAGS = ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10.2")  # kind's containerd config; kubeadm's


def ensure(parts: Parts, choice: str = "auto") -> NodeImage:
    """choice: auto (the public image when it can be pulled, else the stand-in), public, standin."""
    tool = Engine("podman")
    engine.configure()
    if choice in ("auto", "public"):
        public = f"{PUBLIC_NODE}:{parts.kubernetes}"
        if tool.image_id(public) is not None or tool.pull(public):
            return NodeImage(public, standin=False, kubeadm_image_tags={})
        if choice == "public":
            raise engine.EngineError(f"cannot pull {public} and the public node image was asked for")
        engine.say(f"kind node: {public} cannot be pulled (no registry reachable): the stand-in instead")
    tags = {"etcd": parts.etcd, "coredns": parts.coredns}
    ref = node_ref(parts)
    if tool.image_id(ref) is None:
        parts.require()
        _build_node(parts, tool, ref)
    return NodeImage(ref, standin=True, kubeadm_image_tags=tags)


def _label(container: str, stands_for: str) -> None:
    engine.run(["buildah", "config", "--label", f"{STANDIN_LABEL}={stands_for}", "--label",
                ("org.opencontainers.image.description=Stand-in built offline by hack/localkind from Debian "
                f"packages and pinned binaries because {stands_for} could not be pulled. Local use only: never push."),
                container])


def _ensure_rootfs(tool: Engine) -> str:
    ref = rootfs_ref()
    if tool.image_id(ref) is not None:
        return ref
    engine.ensure_commands("mmdebstrap")
    engine.say(f"kind node: building the Debian rootfs {ref} with mmdebstrap (about 2 min cold)")
    work = engine.ROOT / "tmp" / "kind-rootfs"
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / "rootfs.tar"
    try:
        engine.run_logged(["mmdebstrap", *MMDEBSTRAP_OPTIONS, SUITE, str(tarball), *MIRRORS],
                          engine.LOGS / "kind-rootfs.log", label="building the kind node rootfs",
                          show=r"I: (running apt-get update|downloading|extracting|installing|success)")
        argv = ["podman", "import", *(a for c in ROOTFS_CONFIG for a in ("--change", c)),
                "--change", f'LABEL {STANDIN_LABEL}="debian:{SUITE}"', str(tarball), ref]
        engine.run(argv, timeout=600)
    finally:
        tarball.unlink(missing_ok=True)
    return ref


def _image_from(base: str, files: dict[str, Path], entrypoint: list[str], ref: str) -> None:
    """`base` (or scratch) plus `files` (path in the image -> host file), tagged `ref`; kept when
    present (the tags carry the pinned versions of what they hold)."""
    if Engine("podman").image_id(ref) is not None:
        return
    container = engine.run(["buildah", "from", "--pull=never", base]).stdout.strip()
    try:
        for dest, src in files.items():
            engine.run(["buildah", "copy", "--chmod", "0755", container, str(src), dest])
        engine.run(["buildah", "config", "--entrypoint", json.dumps(entrypoint), "--cmd", "", container])
        _label(container, ref)
        engine.run(["buildah", "commit", "--rm", "--quiet", container, ref], timeout=600)
        container = ""
    finally:
        if container:
            engine.run(["buildah", "rm", container], check=False)


def _build_control_plane_images(parts: Parts, rootfs: str) -> list[str]:
    bins = parts.node_binaries()
    refs = control_plane_refs(parts)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        _image_from("scratch", {f"/usr/local/bin/{name}": bins[name]}, [f"/usr/local/bin/{name}"], refs[name])
    # kube-proxy programs iptables/nftables: it needs their commands, so it sits on the node's rootfs.
    _image_from(rootfs, {"/usr/local/bin/kube-proxy": bins["kube-proxy"]}, ["/usr/local/bin/kube-proxy"],
                refs["kube-proxy"])
    # kubeadm's CoreDNS Deployment passes only args: the image's entrypoint is /coredns, as upstream.
    _image_from("scratch", {"/coredns": bins["coredns"]}, ["/coredns"], refs["coredns"])
    _image_from("scratch", {"/pause": bins["pause"]}, ["/pause"], PAUSE_TAGS[0])
    engine.run(["podman", "tag", PAUSE_TAGS[0], *PAUSE_TAGS[1:]])
    return [*refs.values(), *PAUSE_TAGS, build_network_policies_image(parts, rootfs)]


def build_network_policies_image(parts: Parts, rootfs: str | None = None) -> str:
    """The enforcer on the node's rootfs: it runs iptables (the patch's queueing rule)."""
    ref = netpolicies.image_ref(parts)
    binary = parts.node_binaries()["kube-network-policies"]
    _image_from(rootfs or _ensure_rootfs(Engine("podman")), {"/bin/netpol": binary}, ["/bin/netpol"], ref)
    return ref


def _build_node(parts: Parts, tool: Engine, ref: str) -> None:
    engine.ensure_commands("buildah", "podman")
    rootfs = _ensure_rootfs(tool)
    engine.say(f"kind node: assembling the stand-in {ref} (rootfs, kind's files, containerd, kubelet, "
               "control-plane images)")
    images = _build_control_plane_images(parts, rootfs)
    work = engine.ROOT / "tmp" / "kind-node"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    preload = work / "preload.tar"
    engine.run(["podman", "save", "--multi-image-archive", "--format", "docker-archive", "-o", str(preload),
                *images], timeout=600)
    container = engine.run(["buildah", "from", "--pull=never", rootfs]).stdout.strip()
    try:
        root = Path(engine.run(["buildah", "mount", container]).stdout.strip())
        try:
            _assemble(parts, root, preload)
        finally:
            engine.run(["buildah", "umount", container])
        engine.run(["buildah", "config", "--entrypoint", '["/usr/local/bin/entrypoint", "/sbin/init"]',
                    "--cmd", "", "--env", "container=docker", "--stop-signal", "SIGRTMIN+3", container])
        _label(container, f"{PUBLIC_NODE}:{parts.kubernetes}")
        engine.run(["buildah", "commit", "--rm", "--quiet", container, ref], timeout=900)
        container = ""
    finally:
        if container:
            engine.run(["buildah", "rm", container], check=False)
        shutil.rmtree(work, ignore_errors=True)
    engine.say(f"kind node: stand-in {ref} ready")


def _copytree(src: Path, dest: Path, mode: int) -> None:
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(mode)


def _assemble(parts: Parts, root: Path, preload: Path) -> None:
    """kind's images/base Dockerfile, step by step, on a mounted rootfs."""
    files = parts.kind_files
    bins = parts.node_binaries()
    _copytree(files / "usr/local/bin", root / "usr/local/bin", 0o755)
    _copytree(files / "kind", root / "kind", 0o644)
    _copytree(files / "kind/bin", root / "kind/bin", 0o755)
    _copytree(files / "etc", root / "etc", 0o644)
    systemd = root / "usr/lib/systemd/system"
    for pattern in ("sysinit.target.wants/systemd-tmpfiles-setup.service", "multi-user.target.wants/*",
                    "local-fs.target.wants/*", "sockets.target.wants/*udev*", "sockets.target.wants/*initctl*",
                    "basic.target.wants/*"):
        for path in systemd.glob(pattern):
            path.unlink()
    for path in (root / "etc/systemd/system").glob("*.wants/*"):
        path.unlink()
    with open(root / "etc/systemd/journald.conf", "a") as journald:
        journald.write("ReadKMsg=no\n")
    init = root / "usr/sbin/init"
    init.unlink(missing_ok=True)
    init.symlink_to("/usr/lib/systemd/systemd")
    (root / "etc/systemd/system/kind-preload.service").write_text(PRELOAD_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in ("kubelet.service", "containerd.service", "undo-mount-hacks.service", "kind-preload.service"):
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    (root / "etc/systemd/system/systemd-binfmt.service").symlink_to("/dev/null")
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    for name in ("containerd", "ctr", "containerd-shim-runc-v2"):
        shutil.copyfile(bins[name], root / "usr/local/bin" / name)
        (root / "usr/local/bin" / name).chmod(0o755)
    for name in ("kubelet", "kubeadm", "kubectl"):
        shutil.copyfile(bins[name], root / "usr/bin" / name)
        (root / "usr/bin" / name).chmod(0o755)
    # kind's containerd config keeps CNI's default bin_dir; Debian installs the plugins elsewhere.
    cni = root / "opt/cni/bin"
    cni.mkdir(parents=True, exist_ok=True)
    for plugin in (root / "usr/lib/cni").iterdir():
        (cni / plugin.name).symlink_to(f"/usr/lib/cni/{plugin.name}")
    (root / "kind/version").write_text(parts.kubernetes + "\n")
    spec = json.loads(subprocess.run([str(bins["ctr"]), "oci", "spec"], capture_output=True, text=True,
                                     check=True).stdout)
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec["process"].pop("rlimits", None)
    (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))
    (root / "kind/images").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(preload, root / PRELOAD.lstrip("/"))
