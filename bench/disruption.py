"""Failed requests while pods end, with the server's drain delay and without it, side by side.

    deploy/kind/up.sh                     # a kind cluster (LOCALKIND_DIR names its state dir)
    python bench/disruption.py --kind-dir .local/kind [--rounds 3] [--scenarios rollout,drain,scale-down]
    deploy/kind/down.sh

For each scenario (a model rollout of 3 replicas, a drain of the node of one of 2 replicas, a
scale-down from 3 to 1: tests/integration/kind/disruptions.py), `--rounds` times in alternating
order, a fresh detector with the default drain delay and one with `server.drainDelaySeconds: 0`,
each under the same client (tests/integration/kind/traffic.py: 4 callers on fresh connections,
16 on pooled keep-alive ones). Prints each run's counts and timeline, then per scenario the median
failed requests of both and the time until the old pods were gone.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.kind import disruptions
from tests.integration.kind.conftest import kind_from_state
from tests.support.kube import kubectl


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind-dir", required=True, type=Path, help="the state dir deploy/kind/up.sh made")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(disruptions.SCENARIOS))
    args = parser.parse_args()
    os.environ["KUBECONFIG"] = str(args.kind_dir.resolve() / "kubeconfig")
    kind = kind_from_state(args.kind_dir.resolve())
    table: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    for scenario in args.scenarios.split(","):
        for round_ in range(args.rounds):
            delays = [None, 0] if round_ % 2 == 0 else [0, None]
            for delay in delays:
                namespace = f"bench-disruption-{uuid.uuid4().hex[:6]}"
                kubectl("create", "namespace", namespace)
                try:
                    run = disruptions.SCENARIOS[scenario](kind, namespace, drain_delay=delay)
                finally:
                    kubectl("delete", "namespace", namespace, "--wait=false", check=False)
                label = "default" if delay is None else "0"
                print(run.line(scenario, delay), flush=True)
                table.setdefault((scenario, label), []).append(
                    (run.outcome.failed, run.outcome.total, run.timeline["old pods gone"]))
    header = (f"{'scenario':<12} {'drainDelaySeconds':<18} {'failed (median)':>16} {'requests':>9} "
              f"{'old pods gone s':>16}")
    print(f"\n{header}")
    for (scenario, label), runs in table.items():
        print(f"{scenario:<12} {label:<18} {statistics.median(r[0] for r in runs):>16g} "
              f"{statistics.median(r[1] for r in runs):>9g} {statistics.median(r[2] for r in runs):>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
