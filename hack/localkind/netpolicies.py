"""NetworkPolicy enforcement on the stand-in nodes: kube-network-policies as a DaemonSet.

The public kindest/node's kindnetd enforces NetworkPolicy itself; the stand-in nodes' hand-made
bridge network (network.py) does not, so they run sigs.k8s.io/kube-network-policies beside it,
the enforcer its authors made for exactly that (any CNI, policies evaluated in userspace on the
first packet of each connection). This machine's kernel lacks the nftables `queue` expression it
uses (CONFIG_NFT_QUEUE unset), so hack/install-kind.sh builds it with
patches/kube-network-policies-*-iptables-nfqueue.patch: its nftables chain marks the packets it
would queue, and an iptables rule queues marked packets with the NFQUEUE target the kernel has.

The image (the binary on the node's Debian rootfs, which has the iptables it calls) is baked into
the stand-in node image with the control-plane images (nodeimage.py), as kind bakes kindnetd into
kindest/node: a new cluster needs no registry and no load for it, hence `imagePullPolicy: Never`.
Its rules live in the node containers' network namespaces, so `kind delete` removes them all.
"""
from __future__ import annotations

from typing import Any

from .versions import Parts

NAME = "kube-network-policies"
NAMESPACE = "kube-system"
IMAGE_REPO = "localhost/kube-network-policies"
QUEUE_ID = 100


def image_ref(parts: Parts) -> str:
    return f"{IMAGE_REPO}:{parts.network_policies_build}"


def manifests(image: str) -> list[dict[str, Any]]:
    """The upstream install.yaml (v0.8.0), with our image and the flags this kernel needs."""
    labels = {"app": NAME, "k8s-app": NAME, "tier": "node"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": NAME},
         "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                    "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": NAME},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": NAME, "namespace": NAMESPACE,
                                                                    "labels": labels},
         "spec": {"selector": {"matchLabels": {"app": NAME}}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "hostNetwork": True,
                 "priorityClassName": "system-node-critical",
                 "serviceAccountName": NAME,
                 "nodeSelector": {"kubernetes.io/os": "linux"},
                 # Every node, the control plane's too: a policy holds wherever its pods land.
                 "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                 "containers": [{
                     "name": NAME, "image": image, "imagePullPolicy": "Never",
                     "args": ["--hostname-override=$(MY_NODE_NAME)", "--v=2", f"--nfqueue-id={QUEUE_ID}",
                              # The DNS workaround queues in PREROUTING, which the patch cannot
                              # order before iptables' mangle table; kernels 6.12+ do not need it.
                              "--netfilter-bug-1766-fix=false"],
                     "env": [{"name": "MY_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                     # Memory only (upstream also asks 100m CPU): a worker's 2 cores hold exactly
                     # two detectors at their default 1-core request, and any CPU request here
                     # would leave room for one (test_scale_to_three_spreads_... then fails).
                     "resources": {"requests": {"memory": "50Mi"}},
                     "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
                     # NRI tells it a new pod's IP from the runtime before the API server has it.
                     "volumeMounts": [{"name": "nri-plugin", "mountPath": "/var/run/nri"}],
                 }],
                 "volumes": [{"name": "nri-plugin", "hostPath": {"path": "/var/run/nri"}}],
             }}}},
    ]
