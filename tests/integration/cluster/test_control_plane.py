"""The local control plane is a real Kubernetes: scheduler, controllers, RBAC, PodSecurity, kwok nodes."""
from __future__ import annotations

import json

import pytest

from localprocs import wait_for
from tests.support.kube import kubectl, kubectl_json, token_kubeconfig

pytestmark = pytest.mark.cluster

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_manifest(name: str, *, gpus: int = 0, tolerate: bool = False, product: str | None = None) -> str:
    container = {"name": "main", "image": "registry.invalid/pause:1",
                 "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000,
                                     "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    spec: dict = {"containers": [container]}
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


def apply_deployment(namespace: str, name: str, replicas: int) -> None:
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": json.loads(pod_manifest("x"))["spec"]}}}))


def test_four_simulated_nodes_are_ready_and_versions_are_real(kubeconfig):
    nodes = kubectl_json("get", "nodes")["items"]
    ready = {n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])}
    assert ready == {"cpu-1", "cpu-2", "gpu-l4-1", "gpu-a100-1"}
    gpus = {n["metadata"]["name"]: n["status"]["allocatable"].get("nvidia.com/gpu") for n in nodes}
    assert gpus == {"cpu-1": None, "cpu-2": None, "gpu-l4-1": "2", "gpu-a100-1": "1"}
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith("v1.37.")
    assert version["serverVersion"]["gitVersion"].startswith("v1.37.")


def test_deployment_gets_two_ready_pods_on_cpu_nodes(namespace):
    apply_deployment(namespace, "web", 2)
    kubectl("-n", namespace, "wait", "deployment/web", "--for=condition=Available", "--timeout=60s")

    def two_ready_pods():
        pods = kubectl_json("-n", namespace, "get", "pods", "-l", "app=web")["items"]
        ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in p["status"].get("conditions", []))]
        return ready if len(ready) == 2 else None

    pods = wait_for(two_ready_pods, timeout=60, message="2 Ready pods")
    assert {p["spec"]["nodeName"] for p in pods} <= {"cpu-1", "cpu-2"}


def test_gpu_pod_with_toleration_and_product_selector_lands_on_a100(namespace):
    kubectl("-n", namespace, "apply", "-f", "-",
            input=pod_manifest("gpu", gpus=1, tolerate=True, product="NVIDIA-A100-SXM4-80GB"))
    pod = wait_for(lambda: kubectl_json("-n", namespace, "get", "pod", "gpu")["spec"].get("nodeName"),
                   timeout=60, message="the GPU pod to be scheduled")
    assert pod == "gpu-a100-1"
    kubectl("-n", namespace, "wait", "pod/gpu", "--for=condition=Ready", "--timeout=60s")


def _failed_scheduling_message(namespace: str, pod: str) -> str | None:
    events = kubectl_json("-n", namespace, "get", "events",
                          "--field-selector", f"involvedObject.name={pod},reason=FailedScheduling")["items"]
    return events[0]["message"] if events else None


def test_gpu_pod_without_toleration_stays_pending_with_failed_scheduling(namespace):
    kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("untolerated", gpus=1))
    message = wait_for(lambda: _failed_scheduling_message(namespace, "untolerated"), timeout=60,
                       message="a FailedScheduling event")
    assert "untolerated taint" in message and "nvidia.com/gpu" in message
    pod = kubectl_json("-n", namespace, "get", "pod", "untolerated")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")


def test_pod_asking_for_more_gpus_than_any_node_has_stays_pending(namespace):
    kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("greedy", gpus=3, tolerate=True))
    message = wait_for(lambda: _failed_scheduling_message(namespace, "greedy"), timeout=60,
                       message="a FailedScheduling event")
    assert "Insufficient nvidia.com/gpu" in message
    assert kubectl_json("-n", namespace, "get", "pod", "greedy")["status"]["phase"] == "Pending"


def test_deleting_a_deployment_garbage_collects_replicaset_and_pods(namespace):
    apply_deployment(namespace, "gc", 2)
    wait_for(lambda: len(kubectl_json("-n", namespace, "get", "pods", "-l", "app=gc")["items"]) == 2,
             timeout=60, message="2 pods")
    kubectl("-n", namespace, "delete", "deployment", "gc", "--wait=true")
    wait_for(lambda: not kubectl_json("-n", namespace, "get", "replicasets,pods", "-l", "app=gc")["items"],
             timeout=90, message="the ReplicaSet and pods to be garbage-collected")


def test_rbac_is_enforced_for_a_service_account_without_roles(namespace, tmp_path):
    kubectl("-n", namespace, "create", "serviceaccount", "nobody")
    token = kubectl("-n", namespace, "create", "token", "nobody").stdout.strip()
    as_nobody = token_kubeconfig(token, tmp_path / "nobody.kubeconfig")
    result = kubectl("--kubeconfig", str(as_nobody), "-n", namespace, "get", "pods", check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr and f"system:serviceaccount:{namespace}:nobody" in result.stderr


def test_restricted_namespace_rejects_a_privileged_pod(namespace):
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
                  "spec": {"containers": [{"name": "main", "image": "registry.invalid/pause:1",
                                           "securityContext": {"privileged": True}}]}}
    result = kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(privileged), check=False)
    assert result.returncode != 0
    assert "violates PodSecurity \"restricted:latest\"" in result.stderr
    assert "privileged" in result.stderr
