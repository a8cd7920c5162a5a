"""deploy/: every overlay renders, and the rendered manifests keep the promises of the issue."""
from __future__ import annotations

import pytest
import yaml

from .conftest import OVERLAYS, REPO, find, render

CPU_IMAGE = "DETECTOR_CPU_IMAGE"
GPU_IMAGE = "DETECTOR_GPU_IMAGE"
# Cluster-scoped rules a Role cannot hold, and what peering becomes in one namespace.
CLUSTER_ONLY = {"customresourcedefinitions", "namespaces"}
NAMESPACED_EQUIVALENT = {"clusterkopfpeerings": "kopfpeerings"}


def operator_container(objects: list[dict]) -> dict:
    deployment = find(objects, "Deployment", "detector-operator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_base_renders_with_crd_namespace_rbac_and_operator():
    objects = render("deploy/base")
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole",
            "ClusterRoleBinding", "Deployment"} <= kinds
    find(objects, "CustomResourceDefinition", "objectdetectors.vision.mlops.dev")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_runs_one_replica_recreate_with_liveness_and_limits(rendered, overlay):
    deployment = find(rendered[overlay], "Deployment", "detector-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = operator_container(rendered[overlay])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    port = env_of(container)["DETECTOR_LIVENESS_PORT"]["value"]
    assert {"name": "healthz", "containerPort": int(port)} in container["ports"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_pod_meets_restricted_pod_security(rendered, overlay):
    pod = find(rendered[overlay], "Deployment", "detector-operator")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    context = operator_container(rendered[overlay])["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    namespace = find(rendered[overlay], "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_settings_name_both_server_images(rendered, overlay):
    env = env_of(operator_container(rendered[overlay]))
    assert env[CPU_IMAGE]["value"].startswith("ghcr.io/vision-mlops/detector-server:")
    assert env[GPU_IMAGE]["value"].startswith("ghcr.io/vision-mlops/detector-server:")
    assert env[CPU_IMAGE]["value"].endswith("-cpu") and env[GPU_IMAGE]["value"].endswith("-gpu")


def test_production_pins_release_tags_for_operator_and_servers(rendered):
    container = operator_container(rendered["production"])
    assert container["image"] == "ghcr.io/vision-mlops/detector-operator:0.1.0"
    env = env_of(container)
    assert env[CPU_IMAGE]["value"] == "ghcr.io/vision-mlops/detector-server:0.1.0-cpu"
    assert env[GPU_IMAGE]["value"] == "ghcr.io/vision-mlops/detector-server:0.1.0-gpu"


def test_dev_uses_the_images_the_kind_script_builds(rendered):
    container = operator_container(rendered["dev"])
    script = (REPO / "deploy/kind/up.sh").read_text()
    # up.sh swaps the dev overlay's names for the content-keyed images it built and loaded.
    assert f"name: {container['image'].rsplit(':', 1)[0]}" in script
    assert f"name: {CPU_IMAGE}" in script


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_namespaced_object_lands_in_the_operators_namespace(rendered, overlay):
    objects = rendered[overlay]
    namespace = find(objects, "Namespace")["metadata"]["name"]
    account = find(objects, "ServiceAccount", "detector-operator")
    assert account["metadata"]["namespace"] == namespace
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "detector-operator", "namespace": namespace}]
    pod = find(objects, "Deployment", "detector-operator")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "detector-operator"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_grants_no_secret_listing_no_wildcards_and_deletes_only_optional_children(rendered, overlay):
    from detector_operator import children

    # An optional child (a NetworkPolicy switched off in the spec) is deleted by the operator; the
    # others go by garbage collection, so nothing else may be deleted.
    deletable = {k.plural for k in children.KINDS if k.optional}
    roles = [o for o in rendered[overlay] if o["kind"] in ("Role", "ClusterRole")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            # Secrets: get by name only (the opt-in label of a credentialsSecret, read as metadata);
            # never list or watch, so the operator cannot enumerate them.
            if "secrets" in rule["resources"]:
                assert rule["resources"] == ["secrets"] and rule["verbs"] == ["get"], rule
            assert "configmaps" not in rule["resources"]
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not {"deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])
            if "delete" in rule["verbs"]:
                assert set(rule["resources"]) <= deletable, rule


def test_namespaced_overlay_watches_its_own_namespace_with_a_role_only(rendered):
    objects = rendered["namespaced"]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    find(objects, "Role", "detector-operator")
    watch = env_of(operator_container(objects))["DETECTOR_WATCH_NAMESPACES"]
    assert watch["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "value" not in watch


def test_namespaced_role_matches_the_cluster_roles_namespaced_rules(rendered):
    def normalised(rules):
        return sorted((tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])))
                      for r in rules)

    cluster_rules = find(rendered["production"], "ClusterRole", "detector-operator")["rules"]
    expected = [
        rule | {"resources": [NAMESPACED_EQUIVALENT.get(r, r) for r in rule["resources"]]}
        for rule in cluster_rules if not CLUSTER_ONLY & set(rule["resources"])
    ]
    role_rules = find(rendered["namespaced"], "Role", "detector-operator")["rules"]
    assert normalised(role_rules) == normalised(expected)


def test_crds_kustomization_lists_every_generated_crd():
    generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml") if p.name != "kustomization.yaml")
    assert generated, "crds/ is empty: run `make crds`"
    listed = yaml.safe_load((REPO / "crds/kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == generated, "crds/kustomization.yaml must list every CRD file"
    names = {o["metadata"]["name"] for o in render("deploy/base") if o["kind"] == "CustomResourceDefinition"}
    assert "objectdetectors.vision.mlops.dev" in names and "kopfpeerings.kopf.dev" in names


def test_crds_sync_before_the_operator_in_argo_cd():
    for crd in (o for o in render("deploy/base") if o["kind"] == "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"


TENANCY_POLICY = "objectdetector-tenancy.vision.mlops.dev"


def test_production_installs_the_tenancy_policy_bound_to_its_params_in_the_operators_namespace(rendered):
    objects = rendered["production"]
    policy = find(objects, "ValidatingAdmissionPolicy", TENANCY_POLICY)
    binding = find(objects, "ValidatingAdmissionPolicyBinding", TENANCY_POLICY)
    params = find(objects, "ConfigMap", "detector-tenancy")
    namespace = find(objects, "Namespace")["metadata"]["name"]
    assert binding["spec"]["policyName"] == TENANCY_POLICY and binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["paramRef"] == {"name": "detector-tenancy", "namespace": namespace,
                                           "parameterNotFoundAction": "Deny"}
    assert params["metadata"]["namespace"] == namespace
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert policy["spec"]["failurePolicy"] == "Fail"
    # Every params key the policy reads is in the ConfigMap, and nothing else is.
    import re
    read = set(re.findall(r"params\.\?data\.\?(\w+)", yaml.safe_dump(policy["spec"])))
    assert read == set(params["data"])


def test_tenancy_params_default_to_the_operators_own_defaults(rendered):
    from detector_operator.settings import Settings

    params = find(rendered["production"], "ConfigMap", "detector-tenancy")["data"]
    env = {e["name"]: e["value"] for e in operator_container(rendered["production"])["env"] if "value" in e}
    operator = Settings.from_env(env)
    assert tuple(params["allowedRegistries"].split(",")) == operator.image_sources
    assert params["allowedServiceAccounts"] == ",".join(operator.allowed_service_accounts) == ""
    assert operator.allowed_service_types == ("ClusterIP",)
    assert params["loadBalancerNamespaces"] == params["nodePortNamespaces"] == ""


# namespaced: a team without cluster-wide rights cannot install it; dev: local experiments use
# kwok's simulation annotations and capture InvalidSpec for the Argo CD health testdata.
@pytest.mark.parametrize("overlay", ["namespaced", "dev"])
def test_namespaced_and_dev_overlays_leave_the_policy_out(rendered, overlay):
    assert not [o for o in rendered[overlay] if o["kind"].startswith("ValidatingAdmissionPolicy")]
