"""Specs on the edge of the CRD's URI and name rules, judged by both their owners: the API server
(CEL and OpenAPI patterns in the generated CRD, tests/integration/operator/test_operator_rules.py)
and the operator's own check of a stored spec (models.parse_spec, tests/unit/operator). Both
come from the same constants in models.py; these cases show they agree."""
from __future__ import annotations

from typing import Any

M = "gs://b/m"
# (id, spec, accepted)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("gs", {"modelUri": "gs://b/m"}, True),
    ("s3", {"modelUri": "s3://b/m.tar.gz"}, True),
    ("http", {"modelUri": "http://h/m.tar.gz"}, True),
    ("https", {"modelUri": "https://h/m.tar.gz?sig=x"}, True),
    ("file", {"modelUri": "file:///models/m"}, True),
    ("pvc", {"modelUri": "pvc://model-store/zoo/m"}, True),
    ("pvc-dotted-claim", {"modelUri": "pvc://store.v2/m"}, True),
    ("ftp", {"modelUri": "ftp://h/m"}, False),
    ("httpx", {"modelUri": "httpx://h/m"}, False),
    ("upper-scheme", {"modelUri": "GS://b/m"}, False),
    ("one-slash", {"modelUri": "gs:/b/m"}, False),
    ("scheme-only", {"modelUri": "s3://"}, False),
    ("pvc-bad-claim", {"modelUri": "pvc://Bad_Claim/m"}, False),
    ("pvc-claim-dash", {"modelUri": "pvc://-store/m"}, False),
    ("label-map-s3", {"modelUri": M, "labelMapUri": "s3://b/labels.pbtxt"}, True),
    ("label-map-pvc", {"modelUri": M, "labelMapUri": "pvc://store/labels.pbtxt"}, False),
    ("label-map-ftp", {"modelUri": M, "labelMapUri": "ftp://h/labels.json"}, False),
    ("model-name", {"modelUri": M, "modelName": "street-cams-2"}, True),
    ("model-name-dot", {"modelUri": M, "modelName": "street.cams"}, False),
    ("model-name-upper", {"modelUri": M, "modelName": "Cams"}, False),
    ("model-name-64", {"modelUri": M, "modelName": "a" * 64}, False),
    ("service-account-dotted", {"modelUri": M, "serviceAccountName": "ml.reader"}, True),
    ("service-account-upper", {"modelUri": M, "serviceAccountName": "Reader"}, False),
    ("secret", {"modelUri": M, "credentialsSecret": "s3-creds"}, True),
    ("secret-underscore", {"modelUri": M, "credentialsSecret": "s3_creds"}, False),
    ("secret-trailing-dash", {"modelUri": M, "credentialsSecret": "s3-"}, False),
]
