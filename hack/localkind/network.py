"""The pod network of the stand-in nodes: one bridge per node and routes between the nodes.

kind's own CNI (kindnetd) is an image built from the kind repository's images/kindnetd, which
the Go module proxy does not serve on its own, and no registry is reachable here to pull it. The
stand-in nodes therefore get what kindnetd sets up, by hand, once the nodes have their pod CIDRs:
  - on each node, a CNI bridge conflist for that node's podCIDR (Debian's bridge, host-local,
    portmap plugins), with a default route in its IPAM (without it a pod has no way out:
    `[Errno 101] Network is unreachable`);
  - on each node, a route to every other node's podCIDR via that node's address on the kind
    network (the node containers share one L2 bridge, as kindnetd's routes assume);
  - on each node, masquerade for pod traffic leaving the cluster's pod range (to the host's
    model server), and none inside it, so pods see each other's real addresses.
Everything lives inside the node containers' network namespaces: nothing is added on the host.
Where the public kindest/node runs (docker laptops), kindnetd does all of this and this is skipped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

CONFLIST = "/etc/cni/net.d/10-detector-bridge.conflist"
MASQ_COMMENT = "detector-kind: pods to outside the cluster"


@dataclass(frozen=True)
class Node:
    name: str
    address: str  # IPv4 on the kind network
    pod_cidr: str


def conflist(pod_cidr: str) -> str:
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "detector-pods",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


def node_script(node: Node, others: list[Node], cluster_pod_cidr: str) -> str:
    """A shell script that sets up one node's pod network; idempotent, so `up` can re-run it."""
    routes = "\n".join(f"ip route replace {o.pod_cidr} via {o.address}" for o in others)
    masq = (f"-s {cluster_pod_cidr} ! -d {cluster_pod_cidr} -m comment --comment '{MASQ_COMMENT}' -j MASQUERADE")
    return f"""set -eu
mkdir -p /etc/cni/net.d
cat > {CONFLIST}.tmp <<'JSON'
{conflist(node.pod_cidr)}
JSON
mv {CONFLIST}.tmp {CONFLIST}
{routes}
iptables -t nat -C POSTROUTING {masq} 2>/dev/null || iptables -t nat -A POSTROUTING {masq}
"""
