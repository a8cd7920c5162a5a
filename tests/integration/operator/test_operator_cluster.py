"""The operator against the real control plane (kube-apiserver, controller-manager, scheduler,
kwok nodes), driven the way a user drives it: kubectl apply / get / wait / scale / delete.
One operator process for the module; one namespace (PodSecurity restricted) per test."""
from __future__ import annotations

import pytest

from detector_operator.builders import DETECTOR_LABEL as LABEL
from localprocs import wait_for
from tests.support.kube import (
    SAMPLES,
    apply,
    condition,
    detector,
    events,
    get_json,
    kubectl,
    sample,
    wait_events,
    wait_ready,
    wait_reason,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def pods_of(namespace: str, name: str) -> list[dict]:
    return get_json(namespace, "pods", "-l", f"{LABEL}={name}")["items"]


def wait_rolled_out(namespace: str, name: str, *, generation: int, timeout: float) -> None:
    """Until the status says the rollout of `generation` is complete and serving."""
    def rolled() -> bool:
        od = get_json(namespace, f"od/{name}")
        conds = {c["type"]: c["reason"] for c in od["status"]["conditions"]}
        return (od["status"]["observedGeneration"] == od["metadata"]["generation"] == generation
                and conds["Progressing"] == "RolloutComplete" and conds["Ready"] == "Serving")
    wait_for(rolled, timeout=timeout, message=f"{name}'s rollout to complete at generation {generation}")


def test_cpu_sample_becomes_ready_on_cpu_nodes_with_honest_status(operator, namespace):
    kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "cpu-detector.yaml"))
    wait_ready(namespace, "cpu-detector")

    od = get_json(namespace, "od/cpu-detector")
    status = od["status"]
    assert status["observedGeneration"] == od["metadata"]["generation"]
    assert (status["replicas"], status["readyReplicas"]) == (2, 2)
    assert status["url"] == f"http://cpu-detector-detector.{namespace}.svc.cluster.local:8080"
    assert status["grpcAddress"] == f"cpu-detector-detector.{namespace}.svc.cluster.local:9000"
    ports = get_json(namespace, "service/cpu-detector-detector")["spec"]["ports"]
    grpc_port = next(p for p in ports if p["name"] == "grpc")
    assert (grpc_port["port"], grpc_port["targetPort"], grpc_port["appProtocol"]) == (9000, "grpc", "grpc")
    assert status["selector"] == "app.kubernetes.io/name=object-detector,vision.mlops.dev/detector=cpu-detector"
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons == {"Ready": ("True", "Serving"), "Progressing": ("False", "RolloutComplete"),
                       "Degraded": ("False", "AsExpected")}

    pods = pods_of(namespace, "cpu-detector")
    assert len(pods) == 2 and {p["spec"]["nodeName"] for p in pods} <= {"cpu-1", "cpu-2"}
    assert all(p["spec"]["containers"][0]["image"].endswith(":test-cpu") for p in pods)

    # kubectl get od: the printer columns a user sees.
    table = kubectl("get", "-n", namespace, "od").stdout.splitlines()
    assert table[0].split() == ["NAME", "MODEL", "HARDWARE", "REPLICAS", "READY", "STATUS", "AGE"]
    assert table[1].split()[:6] == ["cpu-detector", od["spec"]["modelUri"], "cpu", "2", "2", "Serving"]

    # kubectl describe od tells the story.
    reasons = [e["reason"] for e in wait_events(namespace, "cpu-detector", "Created")]
    assert reasons == ["Created"]  # Ready is in the status; the Events say what the operator did


def test_children_carry_our_labels_and_owner_but_never_the_users_labels(operator, namespace):
    od = sample("cpu-detector", replicas=1)
    od["metadata"]["labels"] = {"app.kubernetes.io/instance": "argocd-app", "team": "vision"}
    apply(namespace, od)
    wait_ready(namespace, "cpu-detector")
    uid = get_json(namespace, "od/cpu-detector")["metadata"]["uid"]
    for kind in ("deployment", "service"):
        child = get_json(namespace, f"{kind}/cpu-detector-detector")["metadata"]
        assert child["labels"] == {
            "app.kubernetes.io/name": "object-detector", "app.kubernetes.io/component": "inference-server",
            "app.kubernetes.io/managed-by": "detector-operator", LABEL: "cpu-detector"}
        assert [(r["kind"], r["uid"], r["controller"]) for r in child["ownerReferences"]] == [
            ("ObjectDetector", uid, True)]


def test_operator_writes_only_status_no_finalizers_or_annotations(operator, namespace):
    apply(namespace, sample("cpu-detector", replicas=1))
    wait_ready(namespace, "cpu-detector")
    meta = get_json(namespace, "od/cpu-detector", "--show-managed-fields")["metadata"]
    assert "finalizers" not in meta
    assert not any("kopf" in k for k in meta.get("annotations", {}))
    # Argo CD compares spec and metadata: the operator's field manager touches status only.
    ours = [m for m in meta["managedFields"] if m["manager"] == "detector-operator"]
    assert ours and all(m.get("subresource") == "status" for m in ours)


def test_gpu_samples_land_on_the_gpu_nodes_of_their_product(operator, namespace):
    kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "gpu-l4-detector.yaml"),
            "-f", str(SAMPLES / "gpu-a100-detector.yaml"))
    wait_ready(namespace, "gpu-l4-detector", "gpu-a100-detector")
    for name, node in (("gpu-l4-detector", "gpu-l4-1"), ("gpu-a100-detector", "gpu-a100-1")):
        (pod,) = pods_of(namespace, name)
        assert pod["spec"]["nodeName"] == node
        server = pod["spec"]["containers"][0]
        assert server["image"].endswith(":test-gpu")
        assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]


def test_gpu_detector_asking_for_more_gpus_than_any_node_has_is_unschedulable(operator, namespace):
    apply(namespace, detector("greedy", hardware="gpu", gpu={"count": 4}))
    ready = wait_reason(namespace, "greedy", "Unschedulable")
    assert ready["status"] == "False" and "Insufficient nvidia.com/gpu" in ready["message"]
    assert condition(namespace, "greedy", "Degraded")["reason"] == "Unschedulable"
    assert kubectl("get", "-n", namespace, "od", "greedy").stdout.split()[-2] == "Unschedulable"


def test_crashlooping_model_download_shows_model_load_failed_with_its_message(operator, namespace):
    message = "cannot fetch gs://models/ssd.tar.gz: 403 Forbidden"
    apply(namespace, detector("broken", podAnnotations={
        "kwok.x-k8s.io/simulate": "init-crashloop", "kwok.x-k8s.io/simulate-message": message}))
    ready = wait_reason(namespace, "broken", "ModelLoadFailed")
    assert message in ready["message"]
    assert condition(namespace, "broken", "Degraded")["reason"] == "ModelLoadFailed"
    assert condition(namespace, "broken", "Progressing")["reason"] == "RollingOut"
    warnings = [e for e in wait_events(namespace, "broken", "ModelLoadFailed") if e["reason"] == "ModelLoadFailed"]
    assert warnings and warnings[0]["type"] == "Warning"


def test_crashlooping_server_shows_server_crash_looping(operator, namespace):
    apply(namespace, detector("oom", podAnnotations={
        "kwok.x-k8s.io/simulate": "server-crashloop", "kwok.x-k8s.io/simulate-message": "OOMKilled while loading"}))
    assert "OOMKilled while loading" in wait_reason(namespace, "oom", "ServerCrashLooping")["message"]


def test_running_but_unready_pods_keep_the_detector_deploying(operator, namespace):
    apply(namespace, detector("slow", podAnnotations={"kwok.x-k8s.io/simulate": "unready"}))
    wait_for(lambda: pods_of(namespace, "slow") and pods_of(namespace, "slow")[0]["status"].get("phase") == "Running",
             timeout=60, message="the unready pod running")
    ready = wait_reason(namespace, "slow", "Deploying")
    assert "0/1 replicas ready" in ready["message"]
    assert condition(namespace, "slow", "Degraded")["status"] == "False"


def test_missing_claim_shows_claim_not_found_and_an_event(operator, namespace):
    kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "pvc-detector.yaml"))
    ready = wait_reason(namespace, "pvc-detector", "ClaimNotFound")
    assert "'model-store'" in ready["message"]
    wait_for(lambda: any(e["reason"] == "ClaimNotFound" and e["type"] == "Warning"
                         for e in events(namespace, "pvc-detector")),
             timeout=30, message="a ClaimNotFound event")
    volumes = get_json(namespace, "deployment/pvc-detector-detector")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in volumes


@pytest.mark.parametrize("spec, message", [
    ({"modelUri": "ftp://models/ssd.tar.gz"}, "must be a URI starting with gs://, s3://, http://, https://, file:// or pvc://"),
    ({"modelUri": "gs://m/ssd", "replicas": -1}, "spec.replicas: Invalid value: -1"),
    ({"modelUri": "gs://m/ssd", "gpu": {"count": 1}}, "gpu may only be set when hardware is gpu"),
    ({"modelUri": "gs://m/ssd", "hardware": "gpu", "gpu": {"count": 0}}, "gpu.count must be at least 1"),
    ({"modelUri": "gs://m/ssd", "hardware": "tpu"}, 'Unsupported value: "tpu"'),
], ids=["unknown-scheme", "negative-replicas", "gpu-without-gpu-hardware", "zero-gpus", "unknown-hardware"])
def test_invalid_specs_are_rejected_with_their_messages(crds, namespace, spec, message):
    result = apply(namespace, {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector",
                               "metadata": {"name": "bad"}, "spec": spec}, check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_spec_the_schema_cannot_catch_gives_invalid_spec_and_others_keep_working(operator, namespace):
    apply(namespace, detector("typo", resources={"requests": {"cpu": "lots"}}),
          detector("badlabel", nodeSelector={"zone": "not a label value!"}), detector("fine"))
    # Caught by the operator before applying...
    ready = wait_reason(namespace, "typo", "InvalidSpec")
    assert "cpu: 'lots' is not a quantity" in ready["message"]
    # ...and refused by the API server when the operator applies the Deployment.
    ready = wait_reason(namespace, "badlabel", "InvalidSpec")
    assert "Deployment badlabel-detector" in ready["message"] and "not a label value!" in ready["message"]
    wait_ready(namespace, "fine")
    wait_events(namespace, "typo", "InvalidSpec")
    wait_events(namespace, "badlabel", "InvalidSpec")
    # Fixing the spec recovers it.
    apply(namespace, detector("typo", resources={"requests": {"cpu": "500m"}}))
    wait_ready(namespace, "typo")


def test_kubectl_scale_scales_the_detector_through_the_scale_subresource(operator, namespace):
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    kubectl("scale", "-n", namespace, "od/cams", "--replicas=3")
    wait_for(lambda: get_json(namespace, "od/cams")["status"].get("readyReplicas") == 3,
             timeout=60, message="3 ready replicas")
    assert get_json(namespace, "deployment/cams-detector")["spec"]["replicas"] == 3
    scale = get_json(namespace, "od/cams", "--subresource=scale")
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "app.kubernetes.io/name=object-detector,vision.mlops.dev/detector=cams"
    kubectl("scale", "-n", namespace, "od/cams", "--replicas=0")
    wait_reason(namespace, "cams", "ScaledToZero")


def test_changing_the_model_rolls_the_deployment_and_status_follows(operator, namespace):
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    before = get_json(namespace, "deployment/cams-detector")
    apply(namespace, detector("cams", modelUri="s3://models/ssd-v2.tar.gz"))
    wait_for(lambda: get_json(namespace, "deployment/cams-detector")["metadata"]["generation"]
             > before["metadata"]["generation"], timeout=30, message="the Deployment updated")
    init = get_json(namespace, "deployment/cams-detector")["spec"]["template"]["spec"]["initContainers"][0]
    assert "s3://models/ssd-v2.tar.gz" in init["args"]

    wait_rolled_out(namespace, "cams", generation=2, timeout=60)
    assert any(e["reason"] == "Updated" for e in events(namespace, "cams"))


def test_gpu_rollout_completes_on_a_node_whose_only_gpu_is_taken(operator, namespace):
    # gpu-a100-1 has exactly one GPU: a surge pod could never be placed beside the old one.
    gpu = {"hardware": "gpu", "gpu": {"count": 1, "product": "NVIDIA-A100-SXM4-80GB"}}
    apply(namespace, detector("big", **gpu))
    wait_ready(namespace, "big")
    apply(namespace, detector("big", modelUri="s3://models/ssd-v2.tar.gz", **gpu))

    wait_rolled_out(namespace, "big", generation=2, timeout=90)
    (pod,) = pods_of(namespace, "big")
    assert pod["spec"]["nodeName"] == "gpu-a100-1"
    assert "s3://models/ssd-v2.tar.gz" in pod["spec"]["initContainers"][0]["args"]


def test_deleted_or_edited_children_are_put_back_within_seconds(operator, namespace):
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    old_uid = get_json(namespace, "deployment/cams-detector")["metadata"]["uid"]

    kubectl("delete", "-n", namespace, "deployment/cams-detector", "--wait=false")
    wait_for(lambda: get_json(namespace, "deployment/cams-detector")["metadata"]["uid"] != old_uid,
             timeout=15, message="the Deployment re-created")

    kubectl("scale", "-n", namespace, "deployment/cams-detector", "--replicas=4")
    wait_for(lambda: get_json(namespace, "deployment/cams-detector")["spec"]["replicas"] == 1,
             timeout=15, message="the Deployment's replicas put back to 1")

    kubectl("patch", "-n", namespace, "service/cams-detector", "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/ports/0/port", "value": 9999}]')
    wait_for(lambda: get_json(namespace, "service/cams-detector")["spec"]["ports"][0]["port"] == 8080,
             timeout=15, message="the Service port put back to 8080")

    kubectl("delete", "-n", namespace, "service/cams-detector", "--wait=false")
    wait_for(lambda: kubectl("get", "-n", namespace, "service/cams-detector", check=False).returncode == 0,
             timeout=15, message="the Service re-created")
    wait_ready(namespace, "cams")
    assert any(e["reason"] == "DriftRepaired" for e in events(namespace, "cams"))


def test_deleting_a_detector_removes_its_children(operator, namespace):
    apply(namespace, detector("cams"))
    wait_ready(namespace, "cams")
    kubectl("delete", "-n", namespace, "od/cams", "--timeout=30s")

    def gone() -> bool:
        left = kubectl("get", "-n", namespace, "deployments,services,pods", "-l", f"{LABEL}=cams",
                       "-o", "name").stdout.strip()
        return not left
    wait_for(gone, timeout=60, message="children garbage-collected")


def test_kubectl_explain_reads_the_field_descriptions_and_categories_work(crds, namespace):
    explained = kubectl("explain", "objectdetector.spec.gpu").stdout
    assert "only with hardware: gpu" in explained
    assert "nvidia.com/gpu.product" in explained and "count" in explained
    apply(namespace, detector("listed"))
    assert "listed" in kubectl("get", "-n", namespace, "ml").stdout
    assert "objectdetector.vision.mlops.dev/listed" in kubectl("get", "-n", namespace, "all", "-o", "name").stdout
