"""The operator's own tenancy checks (policy.py): what its settings forbid, with messages a person
can act on. The cases are the ones the admission policy is tested with on the real API server."""
from __future__ import annotations

import pytest

from detector_operator import models, policy
from detector_operator.settings import DEFAULT_SECRET_OPT_IN_LABEL, Settings, SettingsError
from tests.support import tenancy

SETTINGS = Settings.from_env(tenancy.SETTINGS_ENV)


def spec(**fields) -> models.ObjectDetectorSpec:
    return models.parse_spec({**tenancy.BASE, **fields})


@pytest.mark.parametrize("case", tenancy.FORBIDDEN, ids=lambda c: c.id)
def test_each_forbidden_spec_is_refused_naming_its_field(case):
    found = policy.refusals(spec(**case.spec), SETTINGS)
    assert len(found) == 1, found
    assert found[0].startswith(case.field), found


def test_the_allowed_spec_passes_every_check():
    assert policy.refusals(spec(**tenancy.ALLOWED.spec), SETTINGS) == []


def test_messages_say_what_is_allowed_and_where_it_is_set():
    (image,) = policy.refusals(spec(image="attacker/exfil:1"), SETTINGS)
    assert image == ("spec.image 'attacker/exfil:1' is not from an allowed registry: images must start with "
                     "ghcr.io/vision-mlops/detector-server, registry.example.com/models "
                     "(the operator's DETECTOR_ALLOWED_REGISTRIES; ask your platform team)")
    (lb,) = policy.refusals(spec(serviceType="LoadBalancer"), SETTINGS)
    assert lb == ("spec.serviceType LoadBalancer is not allowed: the operator allows ClusterIP "
                  "(DETECTOR_ALLOWED_SERVICE_TYPES; ask your platform team)")
    (tol,) = policy.refusals(spec(tolerations=[{"operator": "Exists"}]), SETTINGS)
    assert "tolerates every taint, the control plane's included: name the taint's key" in tol


def test_several_problems_are_all_reported():
    found = policy.refusals(spec(image="evil/x", serviceType="NodePort",
                                 nodeSelector={"node-role.kubernetes.io/master": ""}), SETTINGS)
    assert [m.split(" ")[0] for m in found] == ["spec.image", "spec.serviceType", "spec.nodeSelector"]


def test_default_settings_allow_only_the_operators_own_server_images_and_cluster_ip():
    defaults = Settings()
    assert defaults.image_sources == ("ghcr.io/vision-mlops/detector-server",)
    assert policy.refusals(spec(image="ghcr.io/vision-mlops/detector-server:0.2.0-gpu"), defaults) == []
    assert policy.refusals(spec(image="ghcr.io/vision-mlops/other:1"), defaults)
    assert policy.refusals(spec(serviceType="LoadBalancer"), defaults)
    assert policy.refusals(spec(serviceAccountName="default"), defaults)  # none unless listed
    assert policy.refusals(spec(podAnnotations={"kwok.x-k8s.io/simulate": "unready"}), defaults) == []
    assert defaults.secret_opt_in_label == DEFAULT_SECRET_OPT_IN_LABEL


def test_a_detector_without_any_of_these_fields_is_always_allowed():
    strict = Settings.from_env({"DETECTOR_ALLOWED_POD_ANNOTATIONS": "", "DETECTOR_ALLOWED_REGISTRIES": "x.io"})
    assert policy.refusals(spec(), strict) == []


@pytest.mark.parametrize(("image", "allowed"), [
    ("ghcr.io/acme/x:1", True), ("ghcr.io/acme:1", True), ("ghcr.io/acme@sha256:ab", True),
    ("ghcr.io/acme", True), ("ghcr.io/acme-evil/x:1", False), ("ghcr.io/acm", False),
    ("ghcr.io.evil/acme/x", False), ("docker.io/ghcr.io/acme/x", False),
])
def test_registry_prefixes_match_only_at_a_boundary(image, allowed):
    assert policy.image_allowed(image, ["ghcr.io/acme/"]) is allowed


@pytest.mark.parametrize(("name", "allowed"), [
    ("reader", True), ("reader-2", False), ("team-a", True), ("team-", True), ("teams", False)])
def test_names_are_exact_or_a_prefix_ending_in_a_star(name, allowed):
    assert policy.name_allowed(name, ["reader", "team-*"]) is allowed
    assert policy.name_allowed(name, ["*"])


def test_a_secret_needs_the_opt_in_label_and_must_exist():
    label = ("vision.mlops.dev/detector-credentials", "true")
    assert policy.secret_refusal("spec.credentialsSecret", "s3", "ns", {label[0]: "true"}, label) is None
    unlabelled = policy.secret_refusal("spec.credentialsSecret", "prod-db", "ns", {"team": "x"}, label)
    assert unlabelled == (
        "spec.credentialsSecret 'prod-db' lacks the label vision.mlops.dev/detector-credentials=true: only "
        "Secrets labelled for detectors may be used (label it if it is meant for them: kubectl label secret "
        "prod-db vision.mlops.dev/detector-credentials=true)")
    missing = policy.secret_refusal("spec.credentialsSecret", "gone", "ns", None, label)
    assert missing.startswith("spec.credentialsSecret 'gone': no such Secret in namespace ns")


def test_tenancy_settings_from_the_environment():
    s = Settings.from_env({
        "DETECTOR_ALLOWED_REGISTRIES": "a.io/x, b.io ,", "DETECTOR_SECRET_OPT_IN_LABEL": "team/ok = yes",
        "DETECTOR_ALLOWED_SERVICE_TYPES": "ClusterIP,LoadBalancer", "DETECTOR_ALLOWED_SERVICE_ACCOUNTS": "*",
        "DETECTOR_ALLOWED_POD_ANNOTATIONS": "", "DETECTOR_MONITORING_NAMESPACE_SELECTOR": "team=obs,tier=infra",
    })
    assert s.image_sources == ("a.io/x", "b.io")
    assert s.secret_opt_in_label == ("team/ok", "yes")
    assert s.allowed_service_types == ("ClusterIP", "LoadBalancer")
    assert s.allowed_service_accounts == ("*",) and s.allowed_pod_annotations == ()
    assert s.monitoring_namespace_labels == (("team", "obs"), ("tier", "infra"))
    assert Settings.from_env({"DETECTOR_SECRET_OPT_IN_LABEL": "*"}).secret_opt_in_label is None
    assert Settings.from_env({"DETECTOR_ALLOWED_SERVICE_TYPES": ""}).allowed_service_types == ("ClusterIP",)


@pytest.mark.parametrize("env", [{"DETECTOR_ALLOWED_SERVICE_TYPES": "ClusterIP,ExternalName"},
                                 {"DETECTOR_SECRET_OPT_IN_LABEL": "no-value"},
                                 {"DETECTOR_MONITORING_NAMESPACE_SELECTOR": "monitoring"}])
def test_bad_tenancy_settings_fail_with_the_variable_name(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env)


def test_every_secret_the_pods_read_is_checked_for_the_label():
    both = models.parse_spec({"modelUriFrom": {"secretKeyRef": {"name": "signed-url", "key": "uri"}},
                              "credentialsSecret": "s3"})
    assert policy.referenced_secrets(both) == [("spec.credentialsSecret", "s3"),
                                               ("spec.modelUriFrom.secretKeyRef.name", "signed-url")]
