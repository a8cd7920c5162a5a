"""API errors become typed exceptions, so the sync loop knows what is worth retrying."""
from __future__ import annotations

import json

import pytest

from detector_operator import kube


def body(message: str, reason: str = "") -> str:
    return json.dumps({"kind": "Status", "reason": reason, "message": message})


@pytest.mark.parametrize("status, cls", [
    (404, kube.NotFound), (422, kube.Invalid), (400, kube.Invalid), (409, kube.Conflict),
    (403, kube.Forbidden), (500, kube.Unavailable), (503, kube.Unavailable), (429, kube.Unavailable),
])
def test_status_codes_map_to_typed_errors(status, cls):
    err = kube.error_for(status, body("nope", "Whatever"))
    assert type(err) is cls and err.message == "nope" and err.status == status


def test_apply_decode_failure_is_invalid_not_retryable():
    err = kube.error_for(500, body("failed to convert new object (ns/x; apps/v1, Kind=Deployment) to proper version"))
    assert isinstance(err, kube.Invalid)


def test_terminating_namespace_is_recognised():
    err = kube.error_for(403, body('unable to create new content in namespace t1 because it is being terminated'))
    assert isinstance(err, kube.Forbidden) and err.namespace_terminating


def test_non_json_error_bodies_keep_their_text():
    assert kube.error_for(502, "bad gateway").message == "bad gateway"


def test_paths_for_core_and_group_kinds():
    assert kube.path("Service", "ns", "a") == "/api/v1/namespaces/ns/services/a"
    assert kube.path("Deployment", "ns", "a") == "/apis/apps/v1/namespaces/ns/deployments/a"
    assert kube.path("ObjectDetector", "ns", "a", "status") == (
        "/apis/vision.mlops.dev/v1alpha1/namespaces/ns/objectdetectors/a/status")
