"""How fast the operator turns N ObjectDetectors into children and status, against the floor.

    python bench/operator_scale.py [--counts 100,500,1000] [--idle 60] [--replicas 1]

For each N, against the local control plane in $KUBECONFIG (`make cluster-up`; the CRD is applied):
  floor     a bare client creates the same N Deployments + N Services directly (64 connections,
            as many as the operator's client), timed until the last one is created;
  operator  N ObjectDetectors are created at once and timed until every one has its Deployment,
            its Service and a status whose observedGeneration is current;
then the operator's peak RSS (VmHWM) and the write requests (POST/PUT/PATCH/DELETE, its own
client's and kopf's) it makes during `--idle` seconds of quiet afterwards (goal: zero).
The operator runs as a child process (`python -m detector_operator --standalone`, watching only
the benchmark's namespace) with aiohttp's request method wrapped to count writes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
from localprocs import free_port
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# --- child mode: the operator with its HTTP writes counted ---

def run_counted_operator(counter_file: str) -> None:
    import aiohttp

    counts: collections.Counter[str] = collections.Counter()
    original = aiohttp.ClientSession._request

    async def counted(self: aiohttp.ClientSession, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        if method.upper() in WRITE_METHODS:
            # Resource kind from the URL path, e.g. PATCH objectdetectors/status.
            parts = str(url).split("?")[0].split("/")
            kind = parts[-1] if parts[-1] in ("status", "events") else (parts[-2] if len(parts) > 2 else "?")
            if kind == "status":
                kind = f"{parts[-3]}/status"
            counts[f"{method.upper()} {kind}"] += 1
            Path(counter_file).write_text(json.dumps(counts))
        return await original(self, method, url, *args, **kwargs)

    aiohttp.ClientSession._request = counted  # type: ignore[method-assign]
    from detector_operator.__main__ import main

    sys.exit(main(["--standalone"]))


# --- parent mode ---

def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "kubectl")
    return subprocess.run([exe, *args], input=input, text=True, capture_output=True, check=check)


def detector(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "vision.mlops.dev/v1alpha1",
        "kind": "ObjectDetector",
        "metadata": {"name": name},
        "spec": {
            "modelUri": "gs://bench/ssd_mobilenet_v2.tar.gz",
            "replicas": replicas,
            # Tiny requests so that simulated nodes hold as many pods as their pod limit allows.
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        },
    }


async def create_all(client: Any, items: list[tuple[str, dict[str, Any]]]) -> None:
    async def one(path: str, body: dict[str, Any]) -> None:
        await client.request("POST", path, body=body)

    await asyncio.gather(*(one(p, b) for p, b in items))


async def floor(n: int, replicas: int, namespace: str) -> float:
    """A bare client creating the same children directly."""
    from detector_operator import builders, kube, models
    from detector_operator.settings import Settings

    client = await kube.Kube.connect()
    try:
        items = []
        for i in range(n):
            name = f"od-{i}"
            owner = builders.Owner(name=name, namespace=namespace, uid=str(uuid.uuid4()))
            spec = models.parse_spec(detector(name, replicas)["spec"])
            for obj in builders.desired_objects(owner, spec, Settings()):
                obj["metadata"].pop("ownerReferences")  # no owner exists: GC would delete them
                items.append((kube.path(obj["kind"], namespace), obj))
        start = time.monotonic()
        await create_all(client, items)
        return time.monotonic() - start
    finally:
        await client.close()


def converged(namespace: str, n: int) -> bool:
    deps = json.loads(kubectl("get", "-n", namespace, "deployments", "-o", "json").stdout)["items"]
    svcs = json.loads(kubectl("get", "-n", namespace, "services", "-o", "json").stdout)["items"]
    ods = json.loads(kubectl("get", "-n", namespace, "objectdetectors", "-o", "json").stdout)["items"]
    current = sum(
        1 for od in ods if (od.get("status") or {}).get("observedGeneration") == od["metadata"]["generation"]
    )
    return len(deps) >= n and len(svcs) >= n and current >= n


def settled(namespace: str) -> bool:
    """No ObjectDetector is still on its way (Deploying): what is left is steady state."""
    ods = json.loads(kubectl("get", "-n", namespace, "objectdetectors", "-o", "json").stdout)["items"]
    for od in ods:
        ready = next((c for c in (od.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)
        if ready is None or ready["reason"] == "Deploying":
            return False
    return True


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_counts(path: Path) -> collections.Counter[str]:
    try:
        return collections.Counter(json.loads(path.read_text()))
    except (OSError, ValueError):
        return collections.Counter()


async def operator_run(n: int, replicas: int, namespace: str, idle: float, timeout: float) -> dict[str, Any]:
    from detector_operator import kube

    counter = Path(tempfile.mkdtemp()) / "writes.json"
    log = open(counter.parent / "operator.log", "wb")
    port = free_port()
    env = {**os.environ, "DETECTOR_WATCH_NAMESPACES": namespace, "DETECTOR_LOG_LEVEL": "WARNING",
           "DETECTOR_LIVENESS_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, __file__, "--operator-child", str(counter)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        # Let it connect and list (nothing to list yet) before the clock starts.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"operator exited: see {counter.parent / 'operator.log'}")
                await asyncio.sleep(0.2)
        client = await kube.Kube.connect()
        try:
            start = time.monotonic()
            await create_all(client, [(kube.path("ObjectDetector", namespace), detector(f"od-{i}", replicas))
                                      for i in range(n)])
            created = time.monotonic() - start
            while not converged(namespace, n):
                if time.monotonic() - start > timeout:
                    raise RuntimeError(f"not converged after {timeout:.0f}s")
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - start
        finally:
            await client.close()
        # Quiet means: every detector reached a steady reason (Serving, or Unschedulable once the
        # simulated nodes' pod limit is reached) and the operator wrote nothing for 10 s.
        settle_until = time.monotonic() + timeout
        last, stable_since = read_counts(counter), time.monotonic()
        while time.monotonic() < settle_until:
            await asyncio.sleep(1)
            now = read_counts(counter)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= 10 and settled(namespace):
                break
        settle_seconds = time.monotonic() - start
        before = read_counts(counter)
        await asyncio.sleep(idle)
        idle_writes = read_counts(counter) - before
        return {
            "seconds": elapsed,
            "create_seconds": created,
            "settled_seconds": settle_seconds,
            "peak_rss_mib": peak_rss_mib(proc.pid),
            "writes_total": sum(read_counts(counter).values()),
            "writes_by_kind": dict(read_counts(counter)),
            "idle_writes": sum(idle_writes.values()),
            "idle_writes_by_kind": dict(idle_writes),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="100,500,1000", help="comma-separated N values")
    parser.add_argument("--idle", type=float, default=60, help="quiet seconds in which writes are counted")
    parser.add_argument("--replicas", type=int, default=1, help="replicas per ObjectDetector")
    parser.add_argument("--timeout", type=float, default=900, help="give up on one N after this long")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--operator-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.operator_child:
        run_counted_operator(args.operator_child)
        return 0
    if "KUBECONFIG" not in os.environ:
        os.environ["KUBECONFIG"] = str(REPO / ".local" / "cluster" / "kubeconfig")
    kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/objectdetectors.vision.mlops.dev", "--timeout=60s")

    results = []
    for n in [int(x) for x in args.counts.split(",")]:
        tag = uuid.uuid4().hex[:5]
        floor_ns, op_ns = f"bench-floor-{n}-{tag}", f"bench-op-{n}-{tag}"
        for ns in (floor_ns, op_ns):
            kubectl("create", "namespace", ns)
        try:
            floor_s = asyncio.run(floor(n, args.replicas, floor_ns))
            # Gone before the operator's turn, so its pods do not load the cluster meanwhile.
            kubectl("delete", "namespace", floor_ns, "--timeout=600s")
            op = asyncio.run(operator_run(n, args.replicas, op_ns, args.idle, args.timeout))
        finally:
            # Waited for, so the next N starts on a quiet cluster (no pods being torn down).
            for ns in (floor_ns, op_ns):
                kubectl("delete", "namespace", ns, "--ignore-not-found", "--timeout=600s", check=False)
        row = {"n": n, "floor_seconds": floor_s, **op, "ratio": op["seconds"] / floor_s}
        results.append(row)
        print(
            f"N={n:5d}  floor {floor_s:6.2f}s  operator {op['seconds']:6.2f}s  ratio {row['ratio']:5.1f}x  "
            f"peak RSS {op['peak_rss_mib']:6.1f} MiB  writes {op['writes_total']}  "
            f"idle writes in {args.idle:.0f}s: {op['idle_writes']} {op['idle_writes_by_kind'] or ''}",
            flush=True,
        )
        print(f"         writes by kind: {op['writes_by_kind']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
