"""The CRD's URI and name rules (CEL and patterns, as the real API server evaluates them) judge
the same cases as the operator's parse_spec (tests/unit/operator/test_operator_models.py): both
are generated from models.py's constants, and this shows they agree."""
from __future__ import annotations

import json

import pytest

from tests.support.kube import kubectl
from tests.support.spec_rules import CASES

pytestmark = [pytest.mark.cluster]


def test_the_api_server_judges_uris_and_names_as_the_operator_does(crds, namespace):
    # One namespace for all cases: a server-side dry run creates nothing.
    disagreements = []
    for case, spec, accepted in CASES:
        body = {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector", "metadata": {"name": "rules"},
                "spec": spec}
        result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(body), check=False)
        if (result.returncode == 0) != accepted:
            disagreements.append(f"{case}: the API server {'refused' if accepted else 'accepted'} it: {result.stderr}")
    assert not disagreements, "\n".join(disagreements)
