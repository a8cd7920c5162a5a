"""Simulated nodes of a test's own on the local control plane: kwok manages every Node annotated
`kwok.x-k8s.io/node: fake` (hack/localcluster), so a test can add nodes, place its detectors on
them alone (a pool label and a taint only its pods tolerate) and drain them without touching
another test's pods."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from localprocs import kubectl_path, wait_for
from tests.support.kube import kubectl, kubectl_json

POOL = "detector-test/pool"


def placement(pool: str) -> dict[str, Any]:
    """ObjectDetector spec fields that put its pods on the pool's nodes only."""
    return {"nodeSelector": {POOL: pool},
            "tolerations": [{"key": POOL, "operator": "Equal", "value": pool, "effect": "NoSchedule"}]}


def node(name: str, pool: str, *, cpu: str = "16", memory: str = "64Gi",
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok",
                                POOL: pool, **(labels or {})}},
        "spec": {"taints": [{"key": POOL, "value": pool, "effect": "NoSchedule"}]},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


@contextmanager
def pool_nodes(*nodes: dict[str, Any]) -> Iterator[list[str]]:
    """Create the nodes, wait until they take pods, delete them afterwards."""
    names = [n["metadata"]["name"] for n in nodes]
    kubectl("create", "-f", "-", input="\n---\n".join(json.dumps(n) for n in nodes))
    try:
        def schedulable() -> bool:
            # Ready (kwok), and the node lifecycle controller has lifted the not-ready taint it
            # puts on every new node: until then the scheduler places nothing there.
            found = kubectl_json("get", "nodes", *names)
            items = found.get("items", [found])  # one name: the object itself
            return all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                       and {t["key"] for t in n["spec"].get("taints", [])} == {POOL} for n in items)
        wait_for(schedulable, timeout=60, interval=0.3, message=f"nodes {names} Ready and untainted")
        yield names
    finally:
        kubectl("delete", "node", *names, "--wait=false", check=False)


class ReadyPods:
    """Counts a detector's ready pods from a `kubectl get pods --watch` stream, so every change
    is seen (polling could miss a dip): a pod counts while its Ready condition is True and it is
    not terminating (its endpoint is gone then, whatever the container still does)."""

    def __init__(self, namespace: str, selector: str) -> None:
        self._time = time.monotonic
        self.ready: set[str] = set()
        self.history: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [kubectl_path(), "get", "pods", "-n", namespace, "-l", selector, "--watch", "--output-watch-events",
             "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            buffer += line
            while buffer.strip():
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        pod = event["object"]
        name = pod["metadata"]["name"]
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = (event["type"] != "DELETED" and not pod["metadata"].get("deletionTimestamp")
                 and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions))
        with self._lock:
            (self.ready.add if ready else self.ready.discard)(name)
            self.history.append((self._time(), len(self.ready)))

    def count(self) -> int:
        with self._lock:
            return len(self.ready)

    def lowest_since(self, start: float) -> int:
        with self._lock:
            before = [n for t, n in self.history if t < start]
            during = [n for t, n in self.history if t >= start]
        return min(([before[-1]] if before else []) + during)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
