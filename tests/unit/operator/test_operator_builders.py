"""Desired children: names, labels, owner, placement, security, and what rolls the Deployment."""
from __future__ import annotations

import pytest

from detector_operator import builders, children
from detector_operator.models import InvalidSpec, parse_spec
from detector_operator.settings import Settings

OWNER = builders.Owner(name="street-cams", namespace="vision", uid="uid-1")
SETTINGS = Settings(cpu_image="reg/server:cpu", gpu_image="reg/server:gpu")


def deployment(**spec):
    return builders.deployment(OWNER, parse_spec({"modelUri": "gs://b/m.tar.gz", **spec}), SETTINGS)


def pod(**spec):
    return deployment(**spec)["spec"]["template"]["spec"]


def server(**spec):
    return pod(**spec)["containers"][0]


def env(container):
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_children_have_fixed_names_our_labels_and_a_controller_owner_reference():
    spec = parse_spec({"modelUri": "gs://b/m"})
    for obj in children.desired_objects(OWNER, spec, SETTINGS):
        meta = obj["metadata"]
        assert meta["name"] == "street-cams-detector" and meta["namespace"] == "vision"
        assert meta["labels"] == {
            "app.kubernetes.io/name": "object-detector",
            "app.kubernetes.io/component": "inference-server",
            "app.kubernetes.io/managed-by": "detector-operator",
            "vision.mlops.dev/detector": "street-cams",
        }
        assert meta["ownerReferences"] == [{
            "apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector", "name": "street-cams",
            "uid": "uid-1", "controller": True, "blockOwnerDeletion": True,
        }]


def test_cpu_detector_gets_cpu_image_and_cpu_requests_without_gpu_placement():
    p = pod()
    c = p["containers"][0]
    assert c["image"] == "reg/server:cpu"
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "5Gi"}
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    assert "nodeSelector" not in p and "tolerations" not in p


def test_gpu_detector_gets_gpu_limit_selector_and_toleration():
    p = pod(hardware="gpu", gpu={"count": 2, "product": "NVIDIA-L4"})
    c = p["containers"][0]
    assert c["image"] == "reg/server:gpu"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert p["nodeSelector"] == {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-L4"}
    assert p["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_gpu_detector_rolls_one_pod_at_a_time_and_cpu_surges_one_without_taking_any_down():
    assert deployment(hardware="gpu")["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    # At 4 replicas and more the Deployment's default (25 %) would take one old pod down at once.
    assert deployment(hardware="cpu", replicas=4)["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_a_stalled_rollout_is_reported_after_the_startup_timeout_and_a_download_allowance():
    assert deployment()["spec"]["progressDeadlineSeconds"] == 600 + 600
    assert deployment(server={"startupTimeoutSeconds": 1800})["spec"]["progressDeadlineSeconds"] == 1800 + 600


def test_gpu_without_product_runs_on_any_gpu_node_with_one_gpu():
    p = pod(hardware="gpu")
    assert p["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert p["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_user_placement_is_merged_not_replaced():
    user_tol = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    node_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ml"]}]}]}}
    user_term = {"weight": 10, "podAffinityTerm": {"topologyKey": "rack", "labelSelector": {}}}
    affinity = {"nodeAffinity": node_affinity,
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [user_term]}}
    p = pod(hardware="gpu", nodeSelector={"zone": "a"}, tolerations=[user_tol], affinity=affinity)
    assert p["nodeSelector"] == {"zone": "a", "nvidia.com/gpu.present": "true"}
    assert p["tolerations"][0] == user_tol and len(p["tolerations"]) == 2
    assert p["affinity"]["nodeAffinity"] == node_affinity
    terms = p["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0] == user_term and [t["podAffinityTerm"]["topologyKey"] for t in terms] == [
        "rack", "topology.kubernetes.io/zone"]


def test_resource_overrides_merge_over_defaults_but_cannot_drop_the_gpu_limit():
    c = server(hardware="gpu", resources={"requests": {"memory": "4Gi"}, "limits": {"nvidia.com/gpu": 9}})
    assert c["resources"]["requests"] == {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "5Gi"}
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_pods_pass_podsecurity_restricted():
    p = pod()
    assert p["securityContext"]["runAsNonRoot"] is True
    assert p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in p["initContainers"] + p["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_init_container_downloads_the_model_with_the_server_image_into_an_empty_dir():
    p = pod(labelMapUri="gs://b/labels.json")
    init = p["initContainers"][0]
    assert init["image"] == "reg/server:cpu"
    assert init["command"] == ["python", "-m", "inference_server.download"]
    assert init["args"] == ["--model-uri", "gs://b/m.tar.gz", "--dest", "/models/model",
                            "--label-map", "gs://b/labels.json"]
    assert {"name": "model", "emptyDir": {"sizeLimit": "4Gi"}} in p["volumes"]
    e = env(p["containers"][0])
    assert e["DETECTOR_MODEL_URI"] == "/models/model"
    # The downloader leaves the label map beside the model, where the server finds it by itself.
    assert "DETECTOR_LABEL_MAP_URI" not in e
    assert e["DETECTOR_MODEL_NAME"] == "street-cams"


def test_pvc_model_mounts_the_claim_read_only_and_skips_the_download():
    p = pod(modelUri="pvc://model-store/zoo/ssd")
    assert "initContainers" not in p
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in p["volumes"]
    c = p["containers"][0]
    assert {"name": "model", "mountPath": "/models/pvc", "readOnly": True} in c["volumeMounts"]
    assert env(c)["DETECTOR_MODEL_URI"] == "/models/pvc/zoo/ssd"


def test_pvc_model_server_fetches_the_label_map_itself():
    e = env(pod(modelUri="pvc://model-store/zoo/ssd", labelMapUri="s3://b/labels.json")["containers"][0])
    assert e["DETECTOR_LABEL_MAP_URI"] == "s3://b/labels.json"


def test_probes_hit_the_server_health_endpoints_on_the_named_port():
    c = server()
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "grpc", "containerPort": 9000, "protocol": "TCP"}]
    assert (env(c)["DETECTOR_PORT"], env(c)["DETECTOR_GRPC_PORT"]) == ("8080", "9000")
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}


def test_server_settings_become_environment_variables():
    e = env(server(server={"maxBatchSize": 8, "batchTimeoutMs": 5, "scoreThreshold": 0.4, "maxDetections": 50}))
    assert (e["DETECTOR_MAX_BATCH_SIZE"], e["DETECTOR_BATCH_TIMEOUT_MS"],
            e["DETECTOR_SCORE_THRESHOLD"], e["DETECTOR_MAX_DETECTIONS"]) == ("8", "5", "0.4", "50")
    assert "DETECTOR_MAX_BATCH_SIZE" not in env(server())


def test_changing_model_gpu_or_server_settings_changes_the_pod_template():
    base = deployment(hardware="gpu")["spec"]["template"]
    for change in ({"modelUri": "gs://b/other"}, {"gpu": {"count": 2}}, {"server": {"maxBatchSize": 2}}):
        assert deployment(hardware="gpu", **change)["spec"]["template"] != base, change
    # Scaling alone does not roll the pods.
    assert deployment(hardware="gpu", replicas=3)["spec"]["template"] == base


def test_pod_annotations_are_merged_into_the_template_only():
    d = deployment(podAnnotations={"prometheus.io/scrape": "true"})
    assert d["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert "annotations" not in d["metadata"]


def test_service_selects_the_pods_on_the_named_ports():
    spec = parse_spec({"modelUri": "gs://b/m", "port": 80, "grpcPort": 8500, "serviceType": "NodePort"})
    svc = builders.service(OWNER, spec)
    assert svc["spec"] == {
        "type": "NodePort",
        "selector": {"app.kubernetes.io/name": "object-detector", "vision.mlops.dev/detector": "street-cams"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                  {"name": "grpc", "port": 8500, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}],
    }
    assert builders.service_addresses(OWNER, spec, "cluster.local") == {
        "url": "http://street-cams-detector.vision.svc.cluster.local:80",
        "grpcAddress": "street-cams-detector.vision.svc.cluster.local:8500",
    }
    assert builders.selector_string("street-cams") == (
        "app.kubernetes.io/name=object-detector,vision.mlops.dev/detector=street-cams"
    )


def test_credentials_secret_reaches_downloader_and_server():
    p = pod(credentialsSecret="s3-creds")
    for c in p["initContainers"] + p["containers"]:
        assert c["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]


def test_same_input_same_output():
    assert deployment(hardware="gpu") == deployment(hardware="gpu")


def test_both_volumes_have_a_size_limit_and_the_server_requests_and_is_limited_to_their_disk():
    p = pod(storage={"modelSizeLimit": "8Gi", "tmpSizeLimit": "512Mi"})
    assert p["volumes"] == [{"name": "model", "emptyDir": {"sizeLimit": "8Gi"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}]
    disk = p["containers"][0]["resources"]
    assert disk["requests"]["ephemeral-storage"] == "8704Mi"  # 8Gi + 512Mi
    assert disk["limits"]["ephemeral-storage"] == "8960Mi"  # and 256Mi of logs
    (init,) = p["initContainers"]
    assert {"ephemeral-storage"} <= set(init["resources"]["limits"])
    # The downloader may fetch half the model volume and unpack half: both fit at once.
    assert env(init)["DETECTOR_DOWNLOAD_MAX_BYTES"] == str(4 * 2**30)


def test_default_volume_sizes_and_a_user_override_of_ephemeral_storage_wins():
    p = pod(resources={"limits": {"ephemeral-storage": "20Gi"}})
    assert [v["emptyDir"]["sizeLimit"] for v in p["volumes"]] == ["4Gi", "1Gi"]
    assert p["containers"][0]["resources"]["limits"]["ephemeral-storage"] == "20Gi"
    assert env(p["initContainers"][0])["DETECTOR_DOWNLOAD_MAX_BYTES"] == str(2 * 2**30)


def test_a_pvc_model_has_no_model_emptydir_and_needs_only_tmp_disk():
    p = pod(modelUri="pvc://store/zoo/ssd")
    assert p["volumes"][1] == {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
    assert p["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "1Gi"


def test_model_uri_from_a_secret_reaches_only_the_downloader_env_never_args():
    spec = parse_spec({"modelUriFrom": {"secretKeyRef": {"name": "signed-url", "key": "url"}}})
    p = builders.deployment(OWNER, spec, SETTINGS)["spec"]["template"]["spec"]
    (init,) = p["initContainers"]
    assert "--model-uri" not in init["args"]
    assert {"name": "DETECTOR_MODEL_URI", "valueFrom": {"secretKeyRef": {"name": "signed-url", "key": "url"}}} \
        in init["env"]
    assert all("valueFrom" not in e for e in p["containers"][0]["env"])  # the server never sees it


def test_the_pod_grace_period_covers_the_servers_drain_delay_and_drain_time():
    p = pod()
    e = env(p["containers"][0])
    assert (e["DETECTOR_DRAIN_DELAY_SECONDS"], e["DETECTOR_DRAIN_SECONDS"]) == ("10", "20")
    assert p["terminationGracePeriodSeconds"] == 10 + 20 + 5
    slow_balancer = pod(server={"drainDelaySeconds": 45})
    assert env(slow_balancer["containers"][0])["DETECTOR_DRAIN_DELAY_SECONDS"] == "45"
    assert slow_balancer["terminationGracePeriodSeconds"] == 45 + 20 + 5
    # The delay runs in the server, which flips its readiness at SIGTERM: no preStop hook.
    assert "lifecycle" not in p["containers"][0]


def test_liveness_waits_until_the_model_is_loaded_for_up_to_the_startup_timeout():
    startup = server()["startupProbe"]
    assert startup["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 600
    big_model = server(server={"startupTimeoutSeconds": 1805})["startupProbe"]
    assert big_model["periodSeconds"] * big_model["failureThreshold"] >= 1805
    assert big_model["periodSeconds"] * (big_model["failureThreshold"] - 1) < 1805


OUR_PODS = {"matchLabels": {"app.kubernetes.io/name": "object-detector", "vision.mlops.dev/detector": "street-cams"}}


def test_replicas_spread_over_nodes_and_zones_by_default_as_preferences():
    p = pod(replicas=3)
    assert p["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": OUR_PODS, "matchLabelKeys": ["pod-template-hash"]}]
    # Zones through a soft anti-affinity: a spread constraint on a key the nodes lack would make the
    # scheduler skip those nodes for the hostname spread too.
    assert p["affinity"] == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"labelSelector": OUR_PODS, "matchLabelKeys": ["pod-template-hash"],
                                           "topologyKey": "topology.kubernetes.io/zone"}}]}}


def test_a_users_spread_constraint_wins_on_its_topology_key_and_the_rest_stays():
    mine = {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"team": "vision"}}}
    rack = {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway"}
    p = pod(topologySpreadConstraints=[mine, rack])
    assert p["topologySpreadConstraints"] == [mine, {**rack, "labelSelector": OUR_PODS}]
    zone = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
    p = pod(topologySpreadConstraints=[zone])
    assert [c["topologyKey"] for c in p["topologySpreadConstraints"]] == [
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert "affinity" not in p, "the user's zone constraint replaces our zone preference"


def test_a_users_zone_anti_affinity_replaces_ours():
    required = {"topologyKey": "topology.kubernetes.io/zone", "labelSelector": OUR_PODS}
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [required]}}
    assert pod(affinity=affinity)["affinity"] == affinity


def budget(**spec):
    return builders.pod_disruption_budget(OWNER, parse_spec({"modelUri": "gs://b/m", **spec}))


def test_the_disruption_budget_lets_evictions_take_one_replica_at_a_time():
    pdb = budget(replicas=3)
    assert (pdb["apiVersion"], pdb["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert pdb["metadata"]["name"] == "street-cams-detector" and pdb["metadata"]["ownerReferences"]
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": OUR_PODS, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    assert pdb["spec"]["selector"] == deployment()["spec"]["selector"]


def test_a_single_replica_budget_lets_a_drain_evict_it_rather_than_hang():
    assert budget(replicas=1)["spec"]["maxUnavailable"] == 1
    assert budget(replicas=0)["spec"]["maxUnavailable"] == 1


def test_the_disruption_budget_is_overridable_in_the_spec():
    assert budget(replicas=10, disruption={"maxUnavailable": "30%"})["spec"]["maxUnavailable"] == "30%"
    assert budget(replicas=2, disruption={"maxUnavailable": 0})["spec"]["maxUnavailable"] == 0


@pytest.mark.parametrize("value", [-1, "101%", "half", "1.5%"])
def test_a_malformed_disruption_budget_is_an_invalid_spec(value):
    with pytest.raises(InvalidSpec, match=r"spec\.disruption\.maxUnavailable"):
        parse_spec({"modelUri": "gs://b/m", "disruption": {"maxUnavailable": value}})


def test_only_a_single_replica_whose_budget_allows_its_eviction_gets_the_drain_note():
    from detector_operator.availability import single_replica_note

    def note(**spec):
        return single_replica_note(parse_spec({"modelUri": "gs://b/m", **spec}))
    assert "node drain stops serving" in note(replicas=1)
    assert note(replicas=2) is None and note(replicas=0) is None
    assert note(replicas=1, disruption={"maxUnavailable": 0}) is None
