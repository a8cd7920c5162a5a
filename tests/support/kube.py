"""Helpers for tests that use a local control plane: the real kubectl, ObjectDetector one-liners
and the Ready-condition lookups. Polling goes through localprocs.wait_for (one owner for waits)."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from localprocs import REPO, kubectl, wait_for

SAMPLES = REPO / "samples"
CRD_NAME = "objectdetectors.vision.mlops.dev"


def restricted_namespace(request: Any, *, prefix: str, width: int) -> Iterator[str]:
    """For a fixture to `yield from`: a namespace named after the test (of the cluster $KUBECONFIG
    names), enforcing PodSecurity `restricted`, deleted after it without waiting (the namespace
    controller finishes in the background)."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:width].strip("-")
    name = f"{prefix}-{base}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def token_kubeconfig(token: str, dest: Path) -> Path:
    """A kubeconfig with the current cluster's server and CA that authenticates with `token` only."""
    admin = kubectl_json("config", "view", "--raw", "--minify")
    cluster = admin["clusters"][0]["cluster"]
    ca = cluster.get("certificate-authority-data") or base64.b64encode(
        Path(cluster["certificate-authority"]).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "token",
        "clusters": [{"name": "local", "cluster": {"server": cluster["server"],
                                                   "certificate-authority-data": ca}}],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": "local", "user": "token"}}],
    }
    dest.write_text(json.dumps(config))
    dest.chmod(0o600)
    return dest


# --- ObjectDetectors ---------------------------------------------------------------------------

def sample(name: str, **spec_changes: Any) -> dict[str, Any]:
    """samples/<name>.yaml as a dict, with spec fields changed."""
    body = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())
    body["spec"].update(spec_changes)
    return body


def detector(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "vision.mlops.dev/v1alpha1", "kind": "ObjectDetector",
            "metadata": {"name": name}, "spec": {"modelUri": "gs://models/ssd.tar.gz", **spec}}


def apply(namespace: str, *objects: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-n", namespace, "-f", "-",
                   input="\n---\n".join(json.dumps(o) for o in objects), check=check)


def get_json(namespace: str, *what: str) -> dict[str, Any]:
    return kubectl_json("get", "-n", namespace, *what)


def condition_of(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any] | None:
    """The condition of `type_` in an object's status, or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def condition(namespace: str, name: str, type_: str = "Ready") -> dict[str, Any] | None:
    return condition_of(get_json(namespace, f"od/{name}"), type_)


def wait_reason(namespace: str, name: str, reason: str, *, timeout: float = 60,
                type_: str = "Ready") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = condition(namespace, name, type_)
        return c if c and c["reason"] == reason else None
    return wait_for(check, timeout=timeout, message=f"od/{name} {type_} reason {reason}")


def wait_ready(namespace: str, *names: str, timeout: int = 90) -> list[dict[str, Any]]:
    """What a user runs, `kubectl wait --for=condition=Ready`; returns the detectors then."""
    kubectl("wait", "-n", namespace, "--for=condition=Ready", *[f"od/{n}" for n in names],
            f"--timeout={timeout}s", timeout=timeout + 15)
    return [get_json(namespace, f"od/{n}") for n in names]


def events(namespace: str, name: str) -> list[dict[str, Any]]:
    return get_json(namespace, "events", "--field-selector",
                    f"involvedObject.kind=ObjectDetector,involvedObject.name={name}")["items"]


def wait_events(namespace: str, name: str, *reasons: str, timeout: float = 60) -> list[dict[str, Any]]:
    """The Events of od/`name` once `reasons` are among them (a reason given twice: two such Events).

    The operator posts an Event in the background, after the status write it tells of (sync.py
    `_event`): a status a test has waited for can be ahead of its Event by a moment, longer on a
    loaded machine. Assertions on the Events go after this wait, so they judge the whole story."""
    wanted = Counter(reasons)

    def arrived() -> list[dict[str, Any]] | None:
        found = events(namespace, name)
        return found if wanted <= Counter(e["reason"] for e in found) else None
    return wait_for(arrived, timeout=timeout, message=f"Events {', '.join(reasons)} on od/{name}")


def apply_crds() -> None:
    """The generated CRD and kopf's peering CRDs, as deploy/base installs them, Established."""
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}",
            "crd/clusterkopfpeerings.kopf.dev", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    # Served through discovery too: kopf resolves resources there at start-up and may not look again.
    wait_for(lambda: kubectl("get", "objectdetectors", "-A", check=False).returncode == 0, timeout=60,
             interval=0.5, message="the ObjectDetector CRD served")
