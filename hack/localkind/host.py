"""Host settings a kind cluster changes, saved before `up` and restored by `down`.

kind's nodes are privileged containers, so their kubelets write the host's non-namespaced
sysctls (kubelet's defaults: vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10,
kernel.panic_on_oops=1, kernel.keys.root_max*), and podman turns on net.ipv4.ip_forward for
the kind network. kind also bind-mounts /lib/modules, which this machine does not have: an
empty one is made for the cluster's life.
"""
from __future__ import annotations

from pathlib import Path

SYSCTLS = (
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward",
    "net.netfilter.nf_conntrack_max",
)
MODULES = Path("/lib/modules")


def _path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    found = {}
    for name in SYSCTLS:
        try:
            found[name] = _path(name).read_text().strip()
        except OSError:
            pass
    return found


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Write back every saved value that differs now; the changes made, as 'name: now -> saved'."""
    changed = []
    for name, value in read_sysctls().items():
        if name in saved and saved[name] != value:
            _path(name).write_text(saved[name] + "\n")
            changed.append(f"{name}: {value} -> {saved[name]}")
    return changed


def make_modules_dir() -> bool:
    """Create an empty /lib/modules when missing; True when this call made it."""
    if MODULES.exists():
        return False
    MODULES.mkdir(parents=True)
    return True


def remove_modules_dir() -> None:
    """Remove the /lib/modules `make_modules_dir` made, only while it is still empty."""
    if MODULES.is_dir() and not any(MODULES.iterdir()):
        MODULES.rmdir()
