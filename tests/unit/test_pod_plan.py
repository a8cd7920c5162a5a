"""tests/support/pods.py reads every pod template the builders emit, and refuses what it cannot run."""
from __future__ import annotations

import copy

import pytest

from tests.support.pods import UnsupportedPodField, plan, pod_template

SPECS = {
    "cpu": {"modelUri": "https://models.example/ssd.tar.gz", "labelMapUri": "https://models.example/l.pbtxt"},
    "gpu": {"modelUri": "s3://b/m", "hardware": "gpu", "gpu": {"count": 2, "product": "NVIDIA-L4"},
            "credentialsSecret": "s3-creds", "tolerations": [{"key": "a", "operator": "Exists"}]},
    "pvc": {"modelUri": "pvc://models/ssd", "podAnnotations": {"a": "b"}, "serviceAccountName": "reader"},
}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_pod_the_builders_emit_has_a_plan(kind):
    pod = plan(pod_template(SPECS[kind]))
    (server,) = pod.containers
    assert server.argv[:3] == ["python", "-m", "inference_server"]
    assert server.security.read_only_root_filesystem and server.security.drop_capabilities == ("ALL",)
    assert server.security.run_as_user == 65532 and server.security.fs_group == 65532
    assert "readinessProbe" in server.probes and server.ports
    if kind == "pvc":
        assert pod.init_containers == [] and pod.volumes["model"].kind == "persistentVolumeClaim"
    else:
        (init,) = pod.init_containers
        assert init.argv[:3] == ["python", "-m", "inference_server.download"]
    if kind == "gpu":
        assert server.env_from_secrets == ["s3-creds"]


@pytest.mark.parametrize("change", [
    lambda t: t["spec"].update(hostNetwork=True),
    lambda t: t["spec"]["containers"][0].update(workingDir="/srv"),
    lambda t: t["spec"]["containers"][0]["env"].append({"name": "X", "valueFrom": {"fieldRef": {}}}),
    lambda t: t["spec"]["volumes"].append({"name": "cfg", "configMap": {"name": "c"}}),
    lambda t: t["spec"]["containers"][0]["securityContext"].update(privileged=True),
    lambda t: t["spec"].update(automountServiceAccountToken=True),
], ids=["hostNetwork", "workingDir", "env valueFrom", "configMap volume", "privileged", "token"])
def test_a_field_no_runner_honours_is_refused_not_ignored(change):
    template = copy.deepcopy(pod_template(SPECS["cpu"]))
    change(template)
    with pytest.raises(UnsupportedPodField):
        plan(template)


def test_a_container_without_command_runs_the_images_entry_point_and_pull_always_is_refused():
    template = copy.deepcopy(pod_template(SPECS["cpu"]))
    server = template["spec"]["containers"][0]
    del server["command"]
    server.update(args=["--port", "8080"], imagePullPolicy="IfNotPresent")
    (planned,) = plan(template).containers
    assert planned.image_entrypoint and planned.argv == ["--port", "8080"]
    server["imagePullPolicy"] = "Always"
    with pytest.raises(UnsupportedPodField, match="imagePullPolicy Always"):
        plan(template)
