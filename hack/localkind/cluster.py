"""A kind cluster the project owns: one control-plane and two worker nodes with real kubelets.

`up`: saves the host settings a cluster changes (host.py), makes the node image (nodeimage.py),
`kind create cluster` with the settings this machine needs (below), sets up the pod network and
NetworkPolicy enforcement on stand-in nodes (network.py, netpolicies.py), and waits until every
node is Ready and cluster DNS answers.
`down`: `kind delete cluster`, removes the kind network it created, restores the host settings,
removes the empty /lib/modules it made. Only the containers and the network named after the
cluster are touched; the state (kubeconfig, saved settings, logs) is in .local/kind.

Settings (shared/notes/real-nodes.md): kubelet v1.37 refuses cgroup v1 unless `failCgroupV1:
false`; containerd must not give the pause container oom_score_adj -998 without CAP_SYS_RESOURCE
(`restrict_oom_score_adj = true`), else every sandbox fails with `can't get final child's PID
from pipe: EOF`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localimages import engine
from localprocs import CACHE, REPO, ProcessGroup, kubectl_path, port_taken, wait_for

from . import host, netpolicies, network, nodeimage
from .versions import parts

DEFAULT_DIR = REPO / ".local" / "kind"
NAME = "detector-kind"
WORKERS = 2
POD_CIDR = "10.244.0.0/16"  # kind's default podSubnet
KIND_NETWORK = "kind"  # the podman/docker network kind creates for its nodes
# The registry's blobs outlive a cluster, so a new cluster's first push sends only what changed.
REGISTRY_STORAGE = CACHE / "kind-registry"
CERTS_D = "/etc/containerd/certs.d"
# kubeadm's Corefile less `forward . /etc/resolv.conf` and `loop` (see _cluster_only_dns).
CLUSTER_ONLY_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    cache 30
    reload
}
"""


class KindError(RuntimeError):
    """A step of up/down failed; the message says which and why."""


def provider() -> str:
    """docker when a docker engine answers, else rootful podman."""
    return "docker" if engine.docker_works() else "podman"


def kind_config(name: str, node: nodeimage.NodeImage, workers: int = WORKERS) -> str:
    lines = [
        "kind: Cluster",
        "apiVersion: kind.x-k8s.io/v1alpha4",
        f"name: {name}",
        "networking:",
        # The podman kind network is dual-stack and lists IPv6 first; the pods' model server is IPv4.
        "  ipFamily: ipv4",
        f"  podSubnet: {POD_CIDR}",
        # kindnetd ships in the public node image only; stand-in nodes get network.py's bridge.
        f"  disableDefaultCNI: {'true' if node.standin else 'false'}",
        "nodes:",
        "  - role: control-plane",
        *["  - role: worker"] * workers,
        "containerdConfigPatches:",
        "  - |-",
        '    [plugins."io.containerd.grpc.v1.cri"]',
        "      restrict_oom_score_adj = true",
        # Registry hosts (the cluster's own registry, registry.py) are configured per node in certs.d.
        '    [plugins."io.containerd.grpc.v1.cri".registry]',
        '      config_path = "/etc/containerd/certs.d"',
        "kubeadmConfigPatches:",
        "  - |",
        "    kind: KubeletConfiguration",
        "    failCgroupV1: false",
    ]
    tags = node.kubeadm_image_tags
    if tags:
        lines += ["  - |", "    kind: ClusterConfiguration",
                  "    etcd:", "      local:", f"        imageTag: {tags['etcd']}",
                  "    dns:", f"      imageTag: {tags['coredns']}"]
    return "\n".join(lines) + "\n"


class KindCluster:
    def __init__(self, state_dir: Path = DEFAULT_DIR, name: str = NAME) -> None:
        self.state_dir = state_dir
        self.name = name
        self.kubeconfig = state_dir / "kubeconfig"

    # --- small helpers ---------------------------------------------------------------------------

    def say(self, msg: str) -> None:
        print(f"[localkind +{time.monotonic() - self._started:5.0f}s] {msg}", flush=True)

    _started = time.monotonic()

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def save(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=2))

    def env(self, tool: str) -> dict[str, str]:
        env = engine.env() if tool == "podman" else dict(os.environ)
        if tool == "podman":
            env["KIND_EXPERIMENTAL_PROVIDER"] = "podman"
        return env

    def kind(self, args: Sequence[str], tool: str, *, timeout: float = 600, log: str | None = None) -> str:
        binary = str(parts().kind)
        out = subprocess.run([binary, *args], env=self.env(tool), capture_output=True, text=True, timeout=timeout)
        if log:
            (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
            (self.state_dir / "logs" / log).write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise KindError(f"kind {' '.join(args)} exited {out.returncode}:\n{out.stderr.strip()[-4000:]}")
        return out.stdout

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        out = subprocess.run([kubectl_path(), f"--kubeconfig={self.kubeconfig}", *args], input=input,
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise KindError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def node_exec(self, tool: str, node: str, script: str) -> str:
        out = subprocess.run([tool, "exec", "-i", node, "sh", "-s"], input=script, env=self.env(tool),
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise KindError(f"on node {node}: {out.stderr.strip()}")
        return out.stdout

    def clusters(self, tool: str) -> list[str]:
        return self.kind(["get", "clusters"], tool).split()

    def nodes(self, tool: str) -> list[str]:
        return self.kind(["get", "nodes", "--name", self.name], tool).split()

    # --- up ------------------------------------------------------------------------------------------

    def up(self) -> None:
        tool = provider()
        the_parts = parts()
        if self.name in self.clusters(tool) and self.kubeconfig.exists():
            self.say(f"cluster {self.name} is already up ({tool}); kubeconfig {self.kubeconfig}")
            self._wait_ready(tool, timeout=120)
            return
        if not the_parts.kind.exists():
            raise FileNotFoundError(f"missing {the_parts.kind}: run `make kind-tools` (bash hack/install-kind.sh)")
        state = self.state()
        # Saved once, before anything the cluster changes; kept across a failed up, so a later
        # down still restores what the host had.
        if "sysctls" not in state:
            state = {**host.snapshot(), "made_lib_modules": False,
                     "network_existed": self._network_exists(tool), "provider": tool}
        self.save(state)
        try:
            timings: dict[str, float] = {}
            t = time.monotonic()
            node = nodeimage.ensure(the_parts)
            timings["node_image"] = time.monotonic() - t
            state["node_image"] = node.ref
            state["standin"] = node.standin
            if host.make_modules_dir():
                state["made_lib_modules"] = True
            self.save(state)
            config = self.state_dir / "kind-config.yaml"
            config.write_text(kind_config(self.name, node))
            self.say(f"kind create cluster --name {self.name} ({tool}, node image {node.ref}"
                     f"{', a stand-in' if node.standin else ''}; 1 control-plane + {WORKERS} workers; ~1 min)")
            t = time.monotonic()
            self.kind(["create", "cluster", "--name", self.name, "--config", str(config), "--image", node.ref,
                       "--kubeconfig", str(self.kubeconfig), "--wait", "0s",
                       # LOCALKIND_RETAIN=1 keeps failed nodes for `kind export logs` (down removes them).
                       *(["--retain"] if os.environ.get("LOCALKIND_RETAIN") == "1" else [])],
                      tool, log="kind-create.log")
            timings["kind_create"] = time.monotonic() - t
            t = time.monotonic()
            if node.standin:
                self._cluster_only_dns()
                self._pod_network(tool)
                self.network_policies()
            state["registry"] = self._start_registry(tool)
            self.save(state)
            self._wait_ready(tool, timeout=300)
            timings["nodes_ready_and_dns"] = time.monotonic() - t
            state["timings"] = {k: round(v, 1) for k, v in timings.items()}
            self.save(state)
            self.say(f"up: {', '.join(f'{k} {v:.0f}s' for k, v in timings.items())}; "
                     f"KUBECONFIG={self.kubeconfig}")
        except BaseException:
            self.say("up failed: removing what it made (state and logs kept in "
                     f"{self.state_dir / 'logs'})")
            self.down(keep_logs=True)
            raise

    def _network_exists(self, tool: str) -> bool:
        return subprocess.run([tool, "network", "exists", KIND_NETWORK], env=self.env(tool),
                              capture_output=True).returncode == 0 if tool == "podman" else True

    def _cluster_only_dns(self) -> None:
        """CoreDNS answers cluster names only. kubeadm's Corefile forwards every other name (and
        the loop plugin's start-up probe) to the node's resolver, which here is the host's: traffic
        from the cluster to an address the project did not create. Set before CoreDNS first starts
        (its pods wait for the pod network)."""
        self.kubectl("-n", "kube-system", "patch", "configmap", "coredns", "--type=merge",
                     "-p", json.dumps({"data": {"Corefile": CLUSTER_ONLY_COREFILE}}))

    def _pod_network(self, tool: str) -> None:
        def all_have_cidrs() -> list[network.Node]:
            items = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
            found = []
            for item in items:
                address = next(a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP")
                found.append(network.Node(item["metadata"]["name"], address, item["spec"]["podCIDR"]))
            return found if len(found) == WORKERS + 1 else []

        nodes = wait_for(all_have_cidrs, timeout=180, message="every node registered with a podCIDR")
        for node in nodes:
            others = [o for o in nodes if o.name != node.name]
            self.node_exec(tool, node.name, network.node_script(node, others, POD_CIDR))
        self.say("pod network: a bridge per node, routes between nodes ("
                 + ", ".join(f"{n.name} {n.pod_cidr} via {n.address}" for n in nodes) + ")")

    def network_policies(self) -> None:
        """kube-network-policies on every node (`python -m localkind network-policies` runs this
        step alone on a running cluster). A node image from before the enforcer was baked in gets
        its image loaded first."""
        from . import delivery  # delivery imports this module

        image = netpolicies.image_ref(parts())
        tool = self.state().get("provider") or provider()
        if not all(delivery.node_has(self, tool, node, image) for node in self.nodes(tool)):
            nodeimage.build_network_policies_image(parts())
            delivery.load(self, [image])
        self.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": netpolicies.manifests(image)}))
        self.kubectl("-n", netpolicies.NAMESPACE, "rollout", "status", f"daemonset/{netpolicies.NAME}",
                     "--timeout=120s", timeout=130)
        self.say(f"NetworkPolicy enforced: {netpolicies.NAME} ({image}) on every node")

    # --- the cluster's registry (delivery.push) ------------------------------------------------------

    @property
    def registry_group(self) -> ProcessGroup:
        return ProcessGroup(self.state_dir / "registry", ("registry",), "localkind")

    def registry_address(self) -> str:
        address = self.state().get("registry")
        if not address:
            raise KindError("the cluster has no registry: `python -m localkind up` starts one")
        return address

    def _start_registry(self, tool: str) -> str:
        """distribution's registry on the host, bound to the kind network's gateway (the nodes reach
        it there; nothing else can), and each node's containerd told it speaks plain HTTP."""
        gateway = self.gateway()
        group = self.registry_group
        group.stop_all(quiet=True)
        reg_state = group.create(ports=["http"])
        # The same port each time when it is free: podman's blob-info cache is keyed by the
        # registry's address, so an address seen before lets a push skip layers without
        # compressing them again (a new port cost 68 s for the unchanged server image).
        REGISTRY_STORAGE.mkdir(parents=True, exist_ok=True)
        port_file = REGISTRY_STORAGE / "port"
        try:
            remembered = int(port_file.read_text())
            if not port_taken(remembered, gateway) and not port_taken(remembered):
                reg_state["ports"]["http"] = remembered
        except (OSError, ValueError):
            pass
        port_file.write_text(str(reg_state["ports"]["http"]))
        group.save(reg_state)
        address = f"{gateway}:{reg_state['ports']['http']}"
        config = group.state_dir / "config.yml"
        config.write_text(json.dumps({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(REGISTRY_STORAGE)}, "delete": {"enabled": True}},
            "http": {"addr": address},
        }))
        registry = parts().binary("registry", parts().distribution)
        group.start(reg_state, "registry", [str(registry), "serve", str(config)])

        def answers() -> bool:
            import urllib.request
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as resp:
                return resp.status == 200

        group.wait(reg_state, answers, timeout=30, what=f"the registry at {address}")
        hosts = f'server = "http://{address}"\n[host."http://{address}"]\n  capabilities = ["pull", "resolve"]\n'
        for node in self.nodes(tool):
            self.node_exec(tool, node, f"mkdir -p {CERTS_D}/{address} && "
                                       f"cat > {CERTS_D}/{address}/hosts.toml <<'TOML'\n{hosts}TOML\n")
        self.say(f"registry at {address} (storage {REGISTRY_STORAGE}); nodes pull from it over HTTP")
        return address

    def _wait_ready(self, tool: str, timeout: float) -> None:
        def ready() -> bool:
            items = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
            conditions = [{c["type"]: c["status"] for c in i["status"].get("conditions", [])} for i in items]
            return len(items) == WORKERS + 1 and all(c.get("Ready") == "True" for c in conditions)

        wait_for(ready, timeout=timeout, interval=1, message=f"{WORKERS + 1} nodes Ready")
        self.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", f"--timeout={int(timeout)}s",
                     timeout=timeout + 10)
        self.say(f"{WORKERS + 1} nodes Ready, CoreDNS available")

    # --- down ----------------------------------------------------------------------------------------

    def down(self, keep_logs: bool = False) -> None:
        state = self.state()
        tool = state.get("provider") or provider()
        self.registry_group.stop_all(quiet=True)
        if shutil.which(tool) and self.name in self.clusters(tool):
            self.say(f"kind delete cluster --name {self.name}")
            self.kind(["delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)], tool)
        if tool == "podman" and not state.get("network_existed", True) and self._network_exists(tool):
            leftover = subprocess.run(["podman", "ps", "-a", "--filter", f"network={KIND_NETWORK}", "-q"],
                                      env=self.env(tool), capture_output=True, text=True).stdout.split()
            if leftover:
                self.say(f"kept the {KIND_NETWORK} network: containers still use it ({' '.join(leftover)})")
            else:
                subprocess.run(["podman", "network", "rm", KIND_NETWORK], env=self.env(tool), capture_output=True)
                self.say(f"removed the {KIND_NETWORK} podman network")
        if "sysctls" in state:
            if tool == "podman" and not state.get("network_existed", True):
                for thing in host.undo_networking(state):
                    self.say(f"removed {thing}")
            for change in host.restore_sysctls(state["sysctls"]):
                self.say(f"restored {change}")
        if state.get("made_lib_modules"):
            host.remove_modules_dir()
        if keep_logs:
            (self.state_dir / "state.json").unlink(missing_ok=True)
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.say("down")

    def gateway(self) -> str:
        """The host's IPv4 address on the kind network: what pods reach the host by (the podman
        network is dual-stack and lists IPv6 first; a URL built from that failed in the downloader)."""
        tool = self.state().get("provider") or provider()
        info = json.loads(subprocess.run([tool, "network", "inspect", KIND_NETWORK], env=self.env(tool),
                                         capture_output=True, text=True, check=True).stdout)[0]
        subnets = info.get("subnets") or [{"gateway": c.get("Gateway", "")} for c in info["IPAM"]["Config"]]
        found = [s["gateway"] for s in subnets if "." in s.get("gateway", "")]
        if not found:
            raise KindError(f"the {KIND_NETWORK} network has no IPv4 gateway: {subnets}")
        return found[0]

    # --- status --------------------------------------------------------------------------------------

    def status(self) -> str:
        state = self.state()
        tool = state.get("provider") or provider()
        if self.name not in self.clusters(tool):
            return f"kind cluster {self.name}: not running"
        lines = [f"kind cluster {self.name} ({tool}), node image {state.get('node_image')}"
                 + (" (stand-in)" if state.get("standin") else ""), f"  KUBECONFIG={self.kubeconfig}"]
        lines += ["  " + line for line in self.kubectl("get", "nodes", "-o", "wide").splitlines()]
        return "\n".join(lines)
