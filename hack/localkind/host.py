"""Host settings a kind cluster changes, saved before `up` and restored by `down`.

kind's nodes are privileged containers, so their kubelets write the host's non-namespaced
sysctls (kubelet's defaults: vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10,
kernel.panic_on_oops=1, kernel.keys.root_max*), and podman turns on net.ipv4.ip_forward for
the kind network. kind also bind-mounts /lib/modules, which this machine does not have: an
empty one is made for the cluster's life.
"""
from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

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
        with contextlib.suppress(OSError):
            found[name] = _path(name).read_text().strip()
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


# --- what podman's CNI networking leaves on the host ----------------------------------------------
# The kind network's bridge (cni-podmanN), the CNI firewall plugin's filter chains (CNI-FORWARD,
# CNI-ADMIN, jumped from FORWARD; never removed by CNI) and its IPAM state in /var/lib/cni.
CNI_STATE = Path("/var/lib/cni")
DNSNAME_STATE = Path("/run/containers/cni")  # dnsname's dnsmasq config per network


def links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir())


def chains(table: str = "filter") -> list[str]:
    out = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True)
    return sorted(line.split()[1] for line in out.stdout.splitlines() if line.startswith("-N "))


def filter_chains() -> list[str]:
    return chains("filter")


def _remove_chains(table: str, names: list[str]) -> None:
    """Delete the rules that jump to `names`, then flush and delete the chains."""
    rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()
    for rule in rules:
        words = rule.split()
        if words[:1] == ["-A"] and "-j" in words and words[words.index("-j") + 1] in names \
                and words[1] not in names:
            subprocess.run(["iptables", "-t", table, "-D", *shlex.split(rule)[1:]], capture_output=True)
    for name in names:
        subprocess.run(["iptables", "-t", table, "-F", name], capture_output=True)
    for name in names:
        subprocess.run(["iptables", "-t", table, "-X", name], capture_output=True)


def snapshot() -> dict[str, Any]:
    """What `down` compares against: taken before `up` changes anything."""
    return {"sysctls": read_sysctls(), "links": links(), "filter_chains": filter_chains(),
            "nat_chains": chains("nat"), "filter_rules": rules("filter"), "cni_state": CNI_STATE.exists(),
            "dnsname_state": DNSNAME_STATE.exists()}


def rules(table: str) -> list[str]:
    return subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()


def undo_networking(before: dict[str, Any]) -> list[str]:
    """Removes the CNI leftovers `up` added (not there in `before`); what it removed."""
    removed = []
    for link in links():
        if link not in before.get("links", []) and link.startswith("cni-podman"):
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
            removed.append(f"link {link}")
    # dnsname's rule that lets the kind bridge's containers reach its dnsmasq (INPUT, udp 53).
    for rule in rules("filter"):
        if rule.startswith("-A ") and "cni-podman" in rule and rule not in before.get("filter_rules", []):
            subprocess.run(["iptables", "-D", *shlex.split(rule)[1:]], capture_output=True)
            removed.append(f"iptables rule {rule!r}")
    for table in ("filter", "nat"):
        # CNI's own chains (CNI-FORWARD, CNI-HOSTPORT-DNAT, ...) that were not there before.
        new = [c for c in chains(table) if c.startswith("CNI-") and c not in before.get(f"{table}_chains", [])]
        _remove_chains(table, new)
        removed += [f"iptables {table} chain {c}" for c in new]
    if not before.get("dnsname_state", True) and DNSNAME_STATE.exists():
        shutil.rmtree(DNSNAME_STATE, ignore_errors=True)
        removed.append(str(DNSNAME_STATE))
    if not before.get("cni_state", True) and CNI_STATE.exists():
        shutil.rmtree(CNI_STATE, ignore_errors=True)
        removed.append(str(CNI_STATE))
    return removed
