"""`python -m localargocd up|down|status [--dir DIR] [--kubeconfig FILE]` (the Makefile's argocd-*
targets). `up` also publishes this repository's deploy tree, as a fork would, to the local git
server; `kubectl apply -f` the printed root Application to start syncing."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localprocs import REPO

from . import fork
from .argocd import ArgoCD

DEFAULT_DIR = REPO / ".local" / "argocd"
DEFAULT_KUBECONFIG = REPO / ".local" / "cluster" / "kubeconfig"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localargocd", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "root-app"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"state directory (default {DEFAULT_DIR})")
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG,
                        help=f"the cluster Argo CD deploys to (default {DEFAULT_KUBECONFIG})")
    args = parser.parse_args(argv)
    argocd = ArgoCD(args.dir.resolve(), args.kubeconfig.resolve())
    if args.command == "up":
        fresh = not argocd.running()
        argocd.up()
        if fresh:
            sha = fork.publish(argocd.git, argocd.repo_url)
            print(f"[localargocd] published deploy/ and crds/ at {sha[:12]}: root Application in "
                  f"{argocd.git.work / fork.ROOT_APP}")
    elif args.command == "down":
        argocd.down()
    elif args.command == "status":
        print(argocd.status())
    else:
        print(fork.root_application(argocd.git), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
