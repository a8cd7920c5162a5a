"""A model URI that is a credential (a pre-signed URL) on the real control plane: given by
spec.modelUriFrom, it reaches the downloader only through a secretKeyRef, and whatever a pod
reports, no credential reaches the status, the Events or `kubectl get`."""
from __future__ import annotations

import json

import pytest

from tests.support.kube import apply, condition, detector, get_json, kubectl, wait_events, wait_reason

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SIGNATURE = "5ec7e75167a7d00d"
SIGNED_URL = f"https://models.s3.amazonaws.com/ssd.tar.gz?X-Amz-Credential=AKID&X-Amz-Signature={SIGNATURE}"
FROM_SECRET = {"secretKeyRef": {"name": "model-url", "key": "url"}}
OPT_IN_LABEL = "vision.mlops.dev/detector-credentials"


def secret(namespace: str) -> None:
    kubectl("create", "secret", "generic", "model-url", "-n", namespace, f"--from-literal=url={SIGNED_URL}")
    # Meant for detectors: the operator's tenancy rule (policy.py) uses no Secret without this label.
    kubectl("label", "secret", "model-url", "-n", namespace, f"{OPT_IN_LABEL}=true")


def uri_from_secret(name: str, **spec) -> dict:
    body = detector(name, **spec)
    del body["spec"]["modelUri"]
    body["spec"]["modelUriFrom"] = FROM_SECRET
    return body


@pytest.mark.parametrize("spec", [
    {"modelUriFrom": FROM_SECRET},  # and modelUri: both
    {"modelUri": None},  # neither
])
def test_the_crd_wants_exactly_one_of_model_uri_and_model_uri_from(crds, namespace, spec):
    body = detector("either", **spec)
    if body["spec"]["modelUri"] is None:
        del body["spec"]["modelUri"]
    refused = apply(namespace, body, check=False)
    assert refused.returncode != 0
    assert "set exactly one of modelUri and modelUriFrom" in refused.stderr


def test_a_uri_from_a_secret_reaches_the_downloader_by_secret_key_ref_and_nowhere_else(operator, namespace):
    secret(namespace)
    # The downloader fails with a message that quotes the URL (as an older image's would):
    # the operator must still keep the signature out of status and Events.
    leaky = f"model download failed: InvalidURL: '/ssd tar.gz?X-Amz-Signature={SIGNATURE}' alice:PASSWORD123@host"
    apply(namespace, uri_from_secret("signed", storage={"modelSizeLimit": "2Gi"}, podAnnotations={
        "kwok.x-k8s.io/simulate": "init-crashloop", "kwok.x-k8s.io/simulate-message": leaky}))
    ready = wait_reason(namespace, "signed", "ModelLoadFailed")

    deployment = get_json(namespace, "deployment/signed-detector")
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert {"name": "DETECTOR_MODEL_URI", "valueFrom": FROM_SECRET} in init["env"]
    assert {"name": "DETECTOR_DOWNLOAD_MAX_BYTES", "value": str(2**30)} in init["env"]
    assert "--model-uri" not in init["args"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model"]["emptyDir"] == {"sizeLimit": "2Gi"} and volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    pod_spec = json.dumps(deployment["spec"]["template"]["spec"])  # (the annotations hold kwok's message)
    assert SIGNATURE not in pod_spec and "amazonaws" not in pod_spec

    od = get_json(namespace, "od/signed")
    table = kubectl("get", "-n", namespace, "od", "signed").stdout
    texts = {"status": json.dumps(od["status"]), "kubectl get": table,
             # The ModelLoadFailed Event quotes the pod's message: checked once it is there.
             "events": json.dumps([e["message"] for e in wait_events(namespace, "signed", "ModelLoadFailed")])}
    for where, text in texts.items():
        assert SIGNATURE not in text and "PASSWORD123" not in text, f"{where}: {text}"
    assert "model download failed" in ready["message"]  # the reason is still shown
    assert condition(namespace, "signed", "Degraded")["reason"] == "ModelLoadFailed"
