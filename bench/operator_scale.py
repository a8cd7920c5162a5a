"""The operator at scale, against fair floors measured side by side on the same control plane.

    python bench/operator_scale.py [--counts 100,500,1000] [--rounds 3] [--idle 60]
                                   [--unrelated 5000] [--profile]

Starts its own local control plane (localcluster, in a temporary directory) and registers enough
simulated nodes for every pod. For each N, `--rounds` times (medians printed):
  floor A    a bare client does per detector the least an operator must: create the
             ObjectDetector, its Deployment and Service, patch its status once (same client and
             connection limit as the operator); timed until all N have both children and a status
             with the current observedGeneration (seen through a watch, as for the operator);
  floor B    the operator's own Deployments and Services (copies without owner) created directly,
             timed until every Deployment is Available;
  operator   N ObjectDetectors created at once with `python -m detector_operator --standalone`
             watching the whole cluster; timed until (A) all have children and a current status,
             (B) all are Ready=True. Its writes are counted by kind from the API server's audit
             log (until Ready, then during `--idle` quiet seconds), with its peak RSS and CPU.
Then, with `--unrelated P`: P pods (in Deployments of 100) in other namespaces, not the operator's,
and the largest N again: the operator's RSS and CPU must not grow with them.
`--profile` runs the operator under cProfile in the last round and prints where its time went.
`--baseline PYTHON` also runs, in each round and in alternating order, the operator of another
checkout (its venv's python, e.g. the commit before a change) and prints both side by side:
RSS idle before the burst, peak RSS, CPU and time until Ready. `--no-floors` skips A and B.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile  # noqa: F401  (documents what --profile uses)
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

import localprocs
from detector_operator import builders, kube, models
from detector_operator.children import desired_objects
from detector_operator.settings import Settings
from localcluster import Cluster
from localprocs import REPO

BENCH_UA = "operator-bench/1"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
PODS_PER_NODE = 500


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    # No deadline of localprocs' default: a namespace of 1000 detectors takes minutes to delete.
    return localprocs.kubectl(*args, input=input, check=check, timeout=1800)


def detector(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{models.GROUP}/{models.VERSION}", "kind": models.KIND, "metadata": {"name": name},
        # Tiny requests: the simulated nodes' pod count is the limit, not their CPU.
        "spec": {"modelUri": "gs://bench/ssd_mobilenet_v2.tar.gz", "replicas": replicas,
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "16Mi"}}},
    }


def children(namespace: str, name: str, replicas: int, uid: str | None) -> list[dict[str, Any]]:
    owner = builders.Owner(name=name, namespace=namespace, uid=uid or str(uuid.uuid4()))
    objects = desired_objects(owner, models.parse_spec(detector(name, replicas)["spec"]), Settings())
    if uid is None:
        for obj in objects:
            del obj["metadata"]["ownerReferences"]  # no owner exists: GC would delete them
    return objects


# --- seeing when N objects meet a condition: list, then watch (no polling of N objects) ---

def ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def status_current(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation")


def available(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def exists(obj: dict[str, Any]) -> bool:
    return True


async def watch_until(client: kube.Kube, path: str, n: int, ok, started: float, timeout: float) -> float:
    """Seconds from `started` until n objects at `path` satisfy ok(obj)."""
    while True:
        try:
            listed = await client.request("GET", path)
            break
        except kube.Unavailable:  # e.g. 429 while a fresh CRD's storage initialises
            await asyncio.sleep(0.5)
    good = {o["metadata"]["name"] for o in listed["items"] if ok(o)}
    rv = listed["metadata"]["resourceVersion"]
    auth = await client.authorization()
    headers = {"Authorization": auth} if auth else {}
    while len(good) < n:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{path}: {len(good)}/{n} after {timeout:.0f}s")
        params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "30"}
        async with client.session.get(client.credentials.server + path, params=params, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as rsp:
            buffer = b""
            async for chunk in rsp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    obj = event["object"]
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if event["type"] == "ERROR":  # 410 Gone: list again from now
                        return await watch_until(client, path, n, ok, started, timeout)
                    if event["type"] == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if event["type"] != "DELETED" and ok(obj):
                        good.add(name)
                    else:
                        good.discard(name)
                if len(good) >= n:
                    break
    return time.monotonic() - started


def od_path(namespace: str) -> str:
    return kube.path(models.KIND, namespace)


# --- the three runs ---

async def floor_a(n: int, replicas: int, namespace: str, timeout: float) -> float:
    client = await kube.Kube.connect(user_agent=BENCH_UA)
    try:
        started = time.monotonic()
        done = asyncio.create_task(watch_until(client, od_path(namespace), n, status_current, started, timeout))

        async def one(i: int) -> None:
            name = f"od-{i}"
            created = await client.request("POST", od_path(namespace), body=detector(name, replicas))
            meta = created["metadata"]
            await asyncio.gather(*(client.request("POST", kube.path(o["kind"], namespace), body=o)
                                   for o in children(namespace, name, replicas, meta["uid"])))
            await client.patch_status(namespace, name, {"observedGeneration": meta["generation"]})

        await asyncio.gather(*(one(i) for i in range(n)))
        return await done
    finally:
        await client.close()


async def floor_b(n: int, replicas: int, namespace: str, timeout: float) -> float:
    client = await kube.Kube.connect(user_agent=BENCH_UA)
    try:
        started = time.monotonic()
        deps = kube.path("Deployment", namespace)
        done = asyncio.create_task(watch_until(client, deps, n, available, started, timeout))
        await asyncio.gather(*(client.request("POST", kube.path(o["kind"], namespace), body=o)
                               for i in range(n) for o in children(namespace, f"od-{i}", replicas, None)))
        return await done
    finally:
        await client.close()


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak RSS (VmHWM), or the current one with field="VmRSS"."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def operator_writes(audit: Path, offset: int, since: float, until: float) -> collections.Counter[str]:
    """The operator's writes in [since, until) (wall clock), by verb and resource."""
    counts: collections.Counter[str] = collections.Counter()
    with audit.open("rb") as f:
        f.seek(offset)
        for line in f:
            entry = json.loads(line)
            agent = entry.get("userAgent", "")
            if entry.get("verb") not in WRITES or not agent.startswith(("detector-operator", "kopf")):
                continue
            stamp = _epoch(entry["requestReceivedTimestamp"])
            if since <= stamp < until:
                ref = entry.get("objectRef") or {}
                what = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
                counts[f"{entry['verb']} {what}"] += 1
    return counts


def _epoch(stamp: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(stamp).timestamp()


async def operator_run(n: int, replicas: int, namespace: str, args: argparse.Namespace, audit: Path,
                       profile: Path | None, python: str = sys.executable) -> dict[str, Any]:
    port = localprocs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETECTOR_")}
    env |= {"DETECTOR_LOG_LEVEL": "WARNING", "DETECTOR_LIVENESS_PORT": str(port)}
    argv = [python, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
            "-m", "detector_operator", "--standalone"]
    log_path = Path(tempfile.mkdtemp(prefix="bench-operator-")) / "operator.log"
    proc = localprocs.start(argv, log_path, env=env, cwd=REPO)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited: {localprocs.tail(log_path)}")
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
        except OSError:
            return False

    localprocs.wait_for(healthy, timeout=60, message="the operator's /healthz")
    await asyncio.sleep(5)  # started and watching, nothing to do yet
    idle_rss = proc_peak_rss_mib(proc.pid, "VmRSS")
    offset = audit.stat().st_size
    cpu_before = proc_cpu_seconds(proc.pid)
    client = await kube.Kube.connect(user_agent=BENCH_UA)
    try:
        wall_start, started = time.time(), time.monotonic()
        path = od_path(namespace)
        status_done = asyncio.create_task(watch_until(client, path, n, status_current, started, args.timeout))
        ready_done = asyncio.create_task(watch_until(client, path, n, ready, started, args.timeout))
        await asyncio.gather(*(client.request("POST", path, body=detector(f"od-{i}", replicas)) for i in range(n)))
        status_s, ready_s = await status_done, await ready_done
        cpu_ready = proc_cpu_seconds(proc.pid) - cpu_before
        wall_ready = time.time()
    finally:
        await client.close()
    await asyncio.sleep(5)  # writes already on their way when Ready was seen
    idle_start = time.time()
    await asyncio.sleep(args.idle)
    idle_end = time.time()
    await asyncio.sleep(2)  # the audit log is written in 1 s batches
    result = {
        "status_s": status_s, "ready_s": ready_s, "cpu_until_ready_s": cpu_ready,
        "cpu_total_s": proc_cpu_seconds(proc.pid) - cpu_before, "peak_rss_mib": proc_peak_rss_mib(proc.pid),
        "idle_rss_mib": idle_rss,
        "writes_until_ready": operator_writes(audit, offset, wall_start, wall_ready + 1),
        "writes_idle": operator_writes(audit, offset, idle_start, idle_end),
    }
    localprocs.stop(proc.pid, grace=30, sig=2 if profile else 15)  # SIGINT lets cProfile write its file
    return result


# --- the cluster around the runs ---

def register_nodes(count: int) -> None:
    nodes = [{"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": f"bench-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
                           "labels": {"kubernetes.io/hostname": f"bench-{i}", "type": "kwok"}},
              "status": {"capacity": {"cpu": "1000", "memory": "4Ti", "ephemeral-storage": "1Pi",
                                      "pods": str(PODS_PER_NODE)},
                         "allocatable": {"cpu": "1000", "memory": "4Ti", "ephemeral-storage": "1Pi",
                                         "pods": str(PODS_PER_NODE)}}}
             for i in range(count)]
    kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))


def fresh_namespace(prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", name)
    return name


def drop_namespace(name: str) -> None:
    # Waited for: the next run starts on a quiet cluster, not one tearing down pods.
    kubectl("delete", "namespace", name, "--timeout=900s", check=False)


async def unrelated_load(pods: int, timeout: float) -> list[str]:
    """`pods` pods in Deployments of 100 across 5 namespaces, none the operator's; waits for all Ready."""
    spaces = [fresh_namespace("unrelated") for _ in range(5)]
    client = await kube.Kube.connect(user_agent=BENCH_UA)
    try:
        bodies = []
        for i in range(pods // 100):
            labels = {"app": f"unrelated-{i}"}
            bodies.append((spaces[i % 5], {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"web-{i}", "labels": labels},
                "spec": {"replicas": 100, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "registry.local/web:1",
                                             "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}}}))
        started = time.monotonic()
        await asyncio.gather(*(client.request("POST", kube.path("Deployment", ns), body=b) for ns, b in bodies))
        for ns in spaces:
            count = sum(1 for space, _ in bodies if space == ns)
            await watch_until(client, kube.path("Deployment", ns), count, available, started, timeout)
        print(f"  {pods} unrelated pods Ready in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        await client.close()
    return spaces


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(n: int, rounds: list[dict[str, Any]], replicas: int) -> None:
    fa, fb = median(rounds, "floor_a_s"), median(rounds, "floor_b_s")
    sa, sb = median(rounds, "status_s"), median(rounds, "ready_s")
    writes = statistics.median(sum(r["writes_until_ready"].values()) for r in rounds) / n
    idle = max(sum(r["writes_idle"].values()) for r in rounds)
    print(f"N={n}: {len(rounds)} rounds, medians")
    print(f"  children + current status: operator {sa:7.1f}s  floor A {fa:7.1f}s  "
          f"ratio {sa / fa:5.2f}x  (goal <= 1.5x)")
    print(f"  Ready / Available:         operator {sb:7.1f}s  floor B {fb:7.1f}s  "
          f"ratio {sb / fb:5.2f}x  (goal <= 1.1x)")
    print(f"  writes per detector until Ready: {writes:.2f} (goal <= 4)   writes in idle window: {idle} (goal 0)")
    print(f"  RSS idle before the burst {median(rounds, 'idle_rss_mib'):.0f} MiB")
    print(f"  peak RSS {median(rounds, 'peak_rss_mib'):.0f} MiB (goal <= 150)   CPU until Ready "
          f"{median(rounds, 'cpu_until_ready_s'):.1f}s, whole run {median(rounds, 'cpu_total_s'):.1f}s")
    kinds: collections.Counter[str] = collections.Counter()
    for r in rounds:
        kinds.update(r["writes_until_ready"])
    print("  writes until Ready by kind, per detector: " + ", ".join(
        f"{k} {v / len(rounds) / n:.2f}" for k, v in sorted(kinds.items())), flush=True)


def compare(n: int, rounds: list[dict[str, Any]], baseline: str) -> None:
    base = [r["baseline"] for r in rounds]
    print(f"N={n}: this operator vs the baseline ({baseline}), medians of {len(rounds)}:")
    for key, what in (("idle_rss_mib", "RSS idle (MiB)"), ("peak_rss_mib", "peak RSS (MiB)"),
                      ("cpu_until_ready_s", "CPU until Ready (s)"), ("ready_s", "time to Ready (s)")):
        ours, theirs = median(rounds, key), median(base, key)
        print(f"  {what:<22} {ours:8.1f} vs {theirs:8.1f}  ({100 * (ours / theirs - 1):+.0f} %)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="100,500,1000", help="comma-separated N values")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=60, help="quiet seconds in which writes are counted")
    parser.add_argument("--replicas", type=int, default=1, help="replicas per ObjectDetector")
    parser.add_argument("--unrelated", type=int, default=5000, help="unrelated pods for the last run (0: none)")
    parser.add_argument("--timeout", type=float, default=900, help="give up on one run after this long")
    parser.add_argument("--profile", action="store_true", help="cProfile the operator in the last round")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--floors", action=argparse.BooleanOptionalAction, default=True,
                        help="measure floors A and B (--no-floors: the operator only)")
    parser.add_argument("--baseline", help="python of another checkout whose operator runs side by side")
    args = parser.parse_args()
    localprocs.exit_on_sigterm()  # a killed run still takes its cluster down
    counts = [int(x) for x in args.counts.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    cluster = Cluster(workdir / "cluster")
    cluster.up()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    results: dict[str, Any] = {}
    try:
        kubectl("apply", "--server-side", "-k", str(REPO / "crds"))
        kubectl("wait", "--for=condition=Established", f"crd/{models.PLURAL}.{models.GROUP}", "--timeout=60s")
        register_nodes(-(-(max(counts) * args.replicas + args.unrelated) // PODS_PER_NODE) + 1)
        for n in counts:
            rounds = []
            for r in range(args.rounds):
                row: dict[str, Any] = {"floor_a_s": float("nan"), "floor_b_s": float("nan")}
                for label, fn in (("floor_a_s", floor_a), ("floor_b_s", floor_b)) if args.floors else ():
                    ns = fresh_namespace(f"floor-{n}")
                    row[label] = asyncio.run(fn(n, args.replicas, ns, args.timeout))
                    drop_namespace(ns)
                last_round = n == counts[-1] and r == args.rounds - 1
                profile = workdir / "operator.prof" if args.profile and last_round else None
                runs = [("operator", sys.executable), *([("baseline", args.baseline)] if args.baseline else [])]
                for label, python in runs if r % 2 == 0 else runs[::-1]:  # alternate: drift hits both
                    ns = fresh_namespace(f"op-{n}")
                    result = asyncio.run(operator_run(n, args.replicas, ns, args, cluster.audit_log,
                                                      profile if label == "operator" else None, python))
                    drop_namespace(ns)
                    row |= result if label == "operator" else {"baseline": result}
                rounds.append(row)
                print(f"  N={n} round {r + 1}: floor A {row['floor_a_s']:.1f}s, floor B {row['floor_b_s']:.1f}s, "
                      f"operator {row['status_s']:.1f}s / {row['ready_s']:.1f}s", flush=True)
            report(n, rounds, args.replicas)
            if args.baseline:
                compare(n, rounds, args.baseline)
            results[str(n)] = rounds
        if args.unrelated:
            n = counts[-1]
            spaces = asyncio.run(unrelated_load(args.unrelated, args.timeout))
            loaded = []
            for _ in range(args.rounds):
                ns = fresh_namespace(f"op-loaded-{n}")
                loaded.append(asyncio.run(operator_run(n, args.replicas, ns, args, cluster.audit_log, None)))
                drop_namespace(ns)
            base = results[str(n)]
            rss, rss0 = median(loaded, "peak_rss_mib"), median(base, "peak_rss_mib")
            cpu, cpu0 = median(loaded, "cpu_total_s"), median(base, "cpu_total_s")
            print(f"with {args.unrelated} unrelated pods, N={n}: peak RSS {rss:.0f} MiB vs {rss0:.0f} "
                  f"({100 * (rss / rss0 - 1):+.0f} %), CPU {cpu:.1f}s vs {cpu0:.1f}s ({100 * (cpu / cpu0 - 1):+.0f} %)"
                  f" (goal: within 10 %); Ready in {median(loaded, 'ready_s'):.1f}s", flush=True)
            results["unrelated"] = loaded
            for ns in spaces:
                drop_namespace(ns)
        if args.profile and (workdir / "operator.prof").exists():
            print("operator profile (largest N, last round), top 25 by own time:")
            pstats.Stats(str(workdir / "operator.prof")).sort_stats("tottime").print_stats(25)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=dict))
    finally:
        cluster.down(quiet=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
