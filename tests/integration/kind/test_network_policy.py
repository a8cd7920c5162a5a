"""NetworkPolicy stops packets on real nodes: the operator's `<name>-detector` policy, enforced by
kube-network-policies (hack/localkind/netpolicies.py), keeps clients of other namespaces away from
the detector while its own namespace gets answers; a detector without the policy answers both.
With the enforcer absent the outsider gets 200 from both and this test fails."""
from __future__ import annotations

import json
import re

import pytest

from localprocs import wait_for
from tests.support.kube import kubectl, kubectl_json

from .conftest import Kind, apply_detector, ready_condition, run_client_pod

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 8  # a dropped SYN is retried after 1 s and 3 s: 8 s is past the first retries

# POSTs a JPEG to each (label, url); prints {label: {"status": 200} | {"error": "TimeoutError", ...}}.
PROBE_CLIENT = """
import io, json, time, urllib.request
from PIL import Image
buf = io.BytesIO(); Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "JPEG")
results = {{}}
for label, url in {targets!r}:
    req = urllib.request.Request(url, data=buf.getvalue(), headers={{"Content-Type": "image/jpeg"}})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout={timeout}) as resp:
            results[label] = {{"status": resp.status}}
    except Exception as e:
        reason = getattr(e, "reason", e)
        results[label] = {{"error": type(reason).__name__, "detail": str(e)}}
    results[label]["seconds"] = round(time.monotonic() - started, 1)
print(json.dumps(results))
"""


def probe(namespace: str, image: str, targets: dict[str, str]) -> dict[str, dict]:
    script = PROBE_CLIENT.format(targets=list(targets.items()), timeout=CONNECT_TIMEOUT)
    return json.loads(run_client_pod(namespace, image, script).splitlines()[-1])


def detect_url(namespace: str, name: str) -> str:
    return kubectl_json("-n", namespace, "get", "od", name)["status"]["url"] + f"/v1/models/{name}:detect?threshold=0"


def test_network_policy_admits_the_detectors_namespace_and_drops_other_namespaces(kind: Kind, ns: str) -> None:
    outsider = re.sub(r"-[0-9a-f]{5}$", "", ns)[:40] + "-out"
    kubectl("create", "namespace", outsider)
    kubectl("label", "namespace", outsider, "pod-security.kubernetes.io/enforce=restricted")
    try:
        apply_detector(ns, "guarded", modelUri=kind.model_url)  # networkPolicy on by default
        apply_detector(ns, "open", modelUri=kind.model_url, networkPolicy={"enabled": False})
        for name in ("guarded", "open"):
            wait_for(lambda n=name: ready_condition(ns, n).get("status") == "True", timeout=300, interval=1,
                     message=f"ObjectDetector {name} Ready")
        policies = [p["metadata"]["name"] for p in kubectl_json("-n", ns, "get", "networkpolicies")["items"]]
        assert policies == ["guarded-detector"], policies
        urls = {name: detect_url(ns, name) for name in ("guarded", "open")}

        outside = probe(outsider, kind.server_image, urls)
        inside = probe(ns, kind.server_image, {"guarded": urls["guarded"]})
        print("\nNETWORK POLICY " + json.dumps({"outside": outside, "inside": inside}))

        # The path from the other namespace works (the open detector answers it) ...
        assert outside["open"].get("status") == 200, outside
        # ... and the policy drops its packets to the guarded one: no answer, not even a refusal.
        assert outside["guarded"].get("error") == "TimeoutError", outside
        assert outside["guarded"]["seconds"] >= CONNECT_TIMEOUT - 0.5, outside
        # The detector's own namespace, which the policy admits by default, gets detections.
        assert inside["guarded"].get("status") == 200, inside
    finally:
        kubectl("delete", "namespace", outsider, "--wait=false", check=False)
