"""`python -m localcluster up|down|status [--dir DIR]` (the Makefile's cluster-* targets)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localprocs import REPO

from .cluster import Cluster

DEFAULT_DIR = REPO / ".local" / "cluster"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "kubeconfig"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"state directory (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir.resolve())
    if args.command == "up":
        cluster.up()
    elif args.command == "down":
        cluster.down()
    elif args.command == "status":
        print(cluster.status())
    else:
        print(cluster.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
