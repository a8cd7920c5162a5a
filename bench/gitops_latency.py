"""GitOps latency through a real Argo CD, on its own control plane (tests/support/gitops.py).

    python bench/gitops_latency.py [--rounds 5] [--polling-rounds 3]

The whole tree (root app → operator app → detectors app) is synced from nothing once (timed).
Then each round commits a change of the sample detector's modelUri to the local git repository
and times commit → the detectors app `Synced` at that revision, and commit → the detector's
resource health `Healthy` again in Argo CD (after its rollout). First with the refresh
annotation that a git webhook would set (there is no Argo CD API server here), then by polling
alone (the controller's --app-resync 30 s plus the repo server's 10 s revision cache). Medians
are printed, with the resident memory of the Argo CD processes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

import localprocs

sys.path.insert(0, str(localprocs.REPO))  # tests.support, which is not an installed package

from tests.support.gitops import APPS, DETECTORS_APP, DETECTORS_DIR, GitOps, running_tree

SAMPLE = "ssd-mobilenet"
URIS = ("ssd_mobilenet_v2_320x320", "ssd_mobilenet_v2_fpnlite_320x320")


def one_commit(gitops: GitOps, round_no: int, *, refresh: bool) -> tuple[float, float]:
    path = f"{DETECTORS_DIR}/{SAMPLE}.yaml"
    manifest = yaml.safe_load(gitops.git.read(path))
    old, new = (URIS[0], URIS[1]) if URIS[0] in manifest["spec"]["modelUri"] else (URIS[1], URIS[0])
    manifest["spec"]["modelUri"] = manifest["spec"]["modelUri"].replace(old, new)
    mark = gitops.watch.mark()
    started = time.monotonic()
    sha = gitops.commit({path: yaml.safe_dump(manifest, sort_keys=False)}, f"bench round {round_no}", refresh=refresh)
    # Healthy again means after the rollout Argo CD saw (Progressing), not the old model's Healthy.
    progressing = gitops.wait_resource_health("ObjectDetector", SAMPLE, "Progressing", mark=mark, timeout=300)
    healthy = gitops.wait_resource_health("ObjectDetector", SAMPLE, "Healthy", mark=mark, after=progressing.at,
                                          timeout=300)
    gitops.wait_app(DETECTORS_APP, revision=sha, timeout=300)
    first_synced = next(s.at for s in gitops.watch.since(mark, DETECTORS_APP)
                        if s.sync == "Synced" and (s.body.get("status") or {}).get("sync", {}).get("revision") == sha)
    return first_synced - started, healthy.at - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="commits timed with the refresh annotation")
    parser.add_argument("--polling-rounds", type=int, default=3, help="commits timed by polling alone")
    args = parser.parse_args()
    localprocs.exit_on_sigterm()  # a killed run still takes its cluster and Argo CD down
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as tmp, \
            running_tree(Path(tmp) / "stack", Path(tmp) / "logs") as gitops:
        for name in APPS:
            gitops.wait_app(name, timeout=300)
        print(f"tree synced and healthy from nothing in {time.monotonic() - gitops.root_applied_at:.1f} s", flush=True)
        results = {}
        for label, refresh, rounds in (("refresh annotation", True, args.rounds),
                                       ("polling alone", False, args.polling_rounds)):
            runs = []
            for i in range(rounds):
                runs.append(one_commit(gitops, i, refresh=refresh))
                print(f"  {label} round {i + 1}: Synced {runs[-1][0]:.2f} s, Healthy {runs[-1][1]:.2f} s", flush=True)
            results[label] = runs
        rss = gitops.argocd.rss_mib()
    print("\ncommit →        Synced (median)   Healthy (median)   rounds")
    for label, runs in results.items():
        if runs:
            synced, healthy = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(f"{label:<20} {synced:>8.2f} s {healthy:>14.2f} s   {len(runs)}")
    print("\nArgo CD resident memory: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(rss.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
