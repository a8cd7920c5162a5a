"""deploy/kind and hack/localkind: what can be checked without a cluster (the real run is
tests/integration/kind)."""
from __future__ import annotations

import re
import subprocess

import yaml

from localkind import netpolicies, network, nodeimage
from localkind.cluster import kind_config
from localkind.versions import parts

from .conftest import REPO

SCRIPTS = [REPO / "deploy/kind/up.sh", REPO / "deploy/kind/down.sh"]
STANDIN = nodeimage.NodeImage("localhost/detector-kind-node:x", standin=True,
                              kubeadm_image_tags={"etcd": "v3.6.16", "coredns": "v1.15.0"})
PUBLIC = nodeimage.NodeImage("docker.io/kindest/node:v1.37.1", standin=False, kubeadm_image_tags={})


def test_kind_scripts_are_valid_bash_and_stop_on_errors():
    for script in SCRIPTS:
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "set -euo pipefail" in script.read_text()


def test_kind_script_uses_files_that_exist():
    text = SCRIPTS[0].read_text()
    paths = set(re.findall(r"(?<![\w/.-])((?:deploy|samples)/[\w./-]+)", text))
    assert "deploy/overlays/dev" in paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, missing


def test_kind_config_has_the_settings_this_machine_needs():
    config = yaml.safe_load(kind_config("c", STANDIN))
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    patches = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    kubelet = next(p for p in patches if p["kind"] == "KubeletConfiguration")
    assert kubelet["failCgroupV1"] is False  # kubelet v1.37 refuses cgroup v1 hosts otherwise
    assert "restrict_oom_score_adj = true" in config["containerdConfigPatches"][0]
    assert config["networking"]["ipFamily"] == "ipv4"


def test_standin_nodes_get_our_pod_network_and_image_tags_public_nodes_kindnet():
    standin, public = yaml.safe_load(kind_config("c", STANDIN)), yaml.safe_load(kind_config("c", PUBLIC))
    assert standin["networking"]["disableDefaultCNI"] is True
    assert public["networking"]["disableDefaultCNI"] is False
    cluster = next(yaml.safe_load(p) for p in standin["kubeadmConfigPatches"] if "ClusterConfiguration" in p)
    assert cluster["etcd"]["local"]["imageTag"] == "v3.6.16" and cluster["dns"]["imageTag"] == "v1.15.0"
    assert not any("ClusterConfiguration" in p for p in public["kubeadmConfigPatches"])


def test_pod_network_script_routes_to_the_other_nodes_and_masquerades_only_leaving_traffic():
    me = network.Node("a", "10.89.0.2", "10.244.0.0/24")
    other = network.Node("b", "10.89.0.3", "10.244.1.0/24")
    script = network.node_script(me, [other], "10.244.0.0/16")
    assert "ip route replace 10.244.1.0/24 via 10.89.0.3" in script
    assert "-s 10.244.0.0/16 ! -d 10.244.0.0/16" in script
    conflist = yaml.safe_load(network.conflist(me.pod_cidr))
    ipam = conflist["plugins"][0]["ipam"]
    assert ipam["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert {"dst": "0.0.0.0/0"} in ipam["routes"]  # else: [Errno 101] Network is unreachable


def test_network_policy_enforcer_binary_is_named_by_the_patch_hash_as_install_kind_names_it():
    the_parts = parts()
    patch = the_parts.network_policies_patch
    assert patch.is_file(), patch
    # hack/install-kind.sh's build_knp: $(sha256sum "$KNP_PATCH" | cut -c1-12)
    key = subprocess.run(["bash", "-c", f"sha256sum '{patch}' | cut -c1-12"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert the_parts.network_policies_build == f"{the_parts.network_policies}-{key}"
    binary = the_parts.node_binaries()["kube-network-policies"]
    assert binary.name == f"kube-network-policies-{the_parts.network_policies}-{key}"
    assert "KNP_PATCH=" in (REPO / "hack/install-kind.sh").read_text()


def test_network_policy_enforcer_runs_on_every_node_from_the_baked_in_image_without_the_dns_workaround():
    image = netpolicies.image_ref(parts())
    objects = {o["kind"]: o for o in netpolicies.manifests(image)}
    assert set(objects) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"}
    pod = objects["DaemonSet"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == image and container["imagePullPolicy"] == "Never"  # preloaded, never pulled
    assert "--netfilter-bug-1766-fix=false" in container["args"]  # the patched build refuses it
    assert pod["hostNetwork"] is True and {"operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # Only reads: the enforcer never writes to the API server.
    verbs = {v for rule in objects["ClusterRole"]["rules"] for v in rule["verbs"]}
    assert verbs == {"list", "watch"}
