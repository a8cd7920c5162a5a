"""Which client should kube.py be? Our aiohttp calls against the async API classes of the
official client (kubernetes.aio, installed with the operator for its credential loader) and of
kubernetes_asyncio.

    python bench/kube_client.py [--n 300] [--rounds 3]

Both clients make the operator's hot calls against the same local control plane, side by side
in one run: N server-side applies of a Deployment (as builders emits it), N merge patches of a
ConfigMap (a stand-in for the status patch: same verb and content type) and N GETs, at
concurrency 16. Prints, per client, the median wall time and the median CPU seconds this process
spent, and the ratios. Starts its own control plane (localcluster) unless KUBECONFIG is set.
The operator already has the official `kubernetes` package (credentials.py uses its loader).
kubernetes_asyncio is not a dependency of the operator: it is installed for this script alone,
into ~/.cache/detector-operator/bench-deps, on first use.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from detector_operator import builders, kube, models
from detector_operator.settings import FIELD_MANAGER, Settings

SIDE_DEPS = Path(os.environ.get("DETECTOR_CACHE", Path.home() / ".cache" / "detector-operator")) / "bench-deps"


def with_kubernetes_asyncio() -> None:
    """Make kubernetes_asyncio importable here only (the operator never has it)."""
    if not (SIDE_DEPS / "kubernetes_asyncio").is_dir():
        print(f"installing kubernetes-asyncio into {SIDE_DEPS} (once) ...", flush=True)
        import subprocess
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(SIDE_DEPS),
                        "kubernetes-asyncio>=32,<37"], check=True)
    sys.path.insert(0, str(SIDE_DEPS))


CONCURRENCY = 16


def deployment(namespace: str, i: int) -> dict:
    owner = builders.Owner(name=f"bench-{i}", namespace=namespace, uid=str(uuid.uuid4()))
    body = builders.deployment(owner, models.parse_spec({"modelUri": "gs://b/m", "replicas": 0}), Settings())
    del body["metadata"]["ownerReferences"]  # no owner object exists
    return body


def configmap(namespace: str, i: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"bench-{i}", "namespace": namespace},
            "data": {"round": "0"}}


async def bounded(calls) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call):
        async with gate:
            await call()
    await asyncio.gather(*(one(c) for c in calls))


async def ours(namespace: str, n: int, tag: str) -> None:
    client = await kube.Kube.connect()
    try:
        await bounded([lambda i=i: client.apply(deployment(namespace, i)) for i in range(n)])
        await bounded([lambda i=i: client.request(
            "PATCH", f"/api/v1/namespaces/{namespace}/configmaps/bench-{i}", body={"data": {"round": tag}},
            content_type="application/merge-patch+json") for i in range(n)])
        await bounded([lambda i=i: client.get("Deployment", namespace, f"bench-{i}-detector") for i in range(n)])
    finally:
        await client.close()


async def theirs(namespace: str, n: int, tag: str) -> None:
    from kubernetes_asyncio import client, config

    await config.load_kube_config()
    async with client.ApiClient() as api:
        await _generated_api_calls(client, api, namespace, n, tag)


async def _generated_api_calls(client: Any, api: Any, namespace: str, n: int, tag: str) -> None:
    """The same calls through either generated client (kubernetes_asyncio, kubernetes.aio)."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    await bounded([lambda i=i: apps.patch_namespaced_deployment(
        f"bench-{i}-detector", namespace, deployment(namespace, i), field_manager=FIELD_MANAGER, force=True,
        _content_type="application/apply-patch+yaml") for i in range(n)])
    await bounded([lambda i=i: core.patch_namespaced_config_map(
        f"bench-{i}", namespace, {"data": {"round": tag}},
        _content_type="application/merge-patch+json") for i in range(n)])
    await bounded([lambda i=i: apps.read_namespaced_deployment(f"bench-{i}-detector", namespace)
                   for i in range(n)])


async def official(namespace: str, n: int, tag: str) -> None:
    from kubernetes.aio import client, config

    await config.load_kube_config(persist_config=False)
    async with client.ApiClient() as api:
        await _generated_api_calls(client, api, namespace, n, tag)


async def setup(namespace: str, n: int) -> None:
    client = await kube.Kube.connect()
    try:
        await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        await bounded([lambda i=i: client.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                                                  body=configmap(namespace, i)) for i in range(n)])
    finally:
        await client.close()


def measure(fn, namespace: str, n: int, tag: str) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(fn(namespace, n, tag))
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with_kubernetes_asyncio()
    cluster = None
    if not os.environ.get("KUBECONFIG"):
        from localcluster import Cluster
        cluster = Cluster(Path(tempfile.mkdtemp(prefix="bench-kube-")) / "cluster")
        cluster.up()
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    namespace = f"bench-kube-{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(setup(namespace, args.n))
        order = [("ours", ours), ("kubernetes.aio", official), ("kubernetes_asyncio", theirs)]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in order}
        for r in range(args.rounds):  # rotate, so drift on the shared machine hits each
            for name, fn in order[r % len(order):] + order[:r % len(order)]:
                results[name].append(measure(fn, namespace, args.n, f"{name}-{r}"))
        calls = 3 * args.n
        print(f"{calls} calls per round ({args.n} applies, {args.n} merge patches, {args.n} GETs), "
              f"concurrency {CONCURRENCY}, {args.rounds} rounds, medians:")
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
        for name, (wall, cpu) in med.items():
            print(f"  {name:<20} wall {wall:6.2f} s   client CPU {cpu:6.2f} s   {1000 * cpu / calls:5.2f} ms CPU/call")
        ow, oc = med["ours"]
        for name in ("kubernetes.aio", "kubernetes_asyncio"):
            tw, tc = med[name]
            print(f"  {name} / ours: wall {tw / ow:.2f}x, client CPU {tc / oc:.2f}x")
    finally:
        if cluster:
            cluster.down(quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
