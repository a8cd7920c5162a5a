"""The operator image, installed the way deploy/overlays/namespaced installs it, reconciles a sample.

Its RBAC (ServiceAccount, Role, RoleBinding) is applied into the test's own namespace, and the
overlay's operator pod template runs under podman with its own securityContext (read-only root,
UID 65532, no capabilities) and its ServiceAccount's token. Declared deviations from the pod the
kubelet would run, each because the runner has no kubelet or the control plane is local:
- the token is not projected: a kubeconfig holding it is mounted from a directory, KUBECONFIG
  points at it (automountServiceAccountToken off; service links off, the runner injects none);
- host networking: the local control plane listens on the host's loopback;
- the downward-API env (POD_ID, DETECTOR_WATCH_NAMESPACES) gets the values the kubelet would put;
- the liveness port is a free one (host networking shares ports) and the /tmp emptyDir has no
  size limit (no quota here); the image is the one just built.
"""
from __future__ import annotations

import copy
import os
import urllib.request

import pytest
import yaml

import localprocs
from tests.support.kube import REPO, apply_crds, kubectl, sample, token_kubeconfig, wait_ready
from tests.support.podman_pod import PodmanPod
from tests.support.pods import plan

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
OVERLAY = REPO / "deploy/overlays/namespaced"
KUBECONFIG_DIR = "/var/run/detector-operator"


def render_into(namespace: str, workdir) -> list[dict]:
    """deploy/overlays/namespaced with its namespace set to the test's own."""
    kustomization = workdir / "kustomization.yaml"
    kustomization.write_text(yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                             "kind": "Kustomization", "namespace": namespace,
                                             "resources": [os.path.relpath(OVERLAY, workdir)]}))
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(workdir)).stdout) if d]


def as_podman_runs_it(deployment: dict, namespace: str, image: str, liveness_port: int) -> dict:
    """The Deployment's pod template with the deviations this module's docstring declares."""
    template = copy.deepcopy(deployment["spec"]["template"])
    pod = template["spec"]
    pod.update(automountServiceAccountToken=False, enableServiceLinks=False)
    pod["volumes"] = [{"name": v["name"], "emptyDir": {}} if "emptyDir" in v else v for v in pod["volumes"]]
    pod["volumes"].append({"name": "kubeconfig",
                           "persistentVolumeClaim": {"claimName": "kubeconfig", "readOnly": True}})
    (container,) = pod["containers"]
    container["image"] = image
    container["volumeMounts"].append({"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True})
    fields = {"metadata.name": f"{deployment['metadata']['name']}-podman", "metadata.namespace": namespace}
    env = []
    for item in container["env"]:
        if "valueFrom" in item:
            item = {"name": item["name"], "value": fields[item["valueFrom"]["fieldRef"]["fieldPath"]]}
        if item["name"] == "DETECTOR_LIVENESS_PORT":
            item = {"name": item["name"], "value": str(liveness_port)}
        env.append(item)
    container["env"] = [*env, {"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/config"}]
    (port,) = container["ports"]
    port["containerPort"] = liveness_port
    return template


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_operator_image_reconciles_a_sample_detector_to_ready(images, kubeconfig, namespace, tmp_path):
    apply_crds()
    objects = render_into(namespace, tmp_path)
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert {o["kind"] for o in rbac} == {"ServiceAccount", "Role", "RoleBinding"}
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    account = next(o for o in rbac if o["kind"] == "ServiceAccount")["metadata"]["name"]
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    (tmp_path / "kubeconfig").mkdir()
    token_kubeconfig(token, tmp_path / "kubeconfig" / "config").chmod(0o644)  # readable by UID 65532

    deployment = next(o for o in objects if o["kind"] == "Deployment")
    port = localprocs.free_port()
    template = as_podman_runs_it(deployment, namespace, images["operator"].ref, port)
    with PodmanPod(plan(template), tmp_path / "pod", name="operator", network="host",
                   volume_dirs={"kubeconfig": tmp_path / "kubeconfig"}) as pod:
        pod.start().wait_ready()
        localprocs.wait_for(lambda: healthy(port) or not pod.running("operator"), timeout=120,
                            message="the operator's liveness endpoint")
        assert pod.running("operator"), pod.logs("operator")
        detector = sample("cpu-detector")
        kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(detector))
        try:
            (ready,) = wait_ready(namespace, detector["metadata"]["name"], timeout=120)
        except Exception:
            print(pod.logs("operator")[-5000:])
            raise
        assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
        assert "Forbidden" not in pod.logs("operator")
