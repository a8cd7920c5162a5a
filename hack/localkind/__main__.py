"""`python -m localkind up|down|status|kubeconfig|gateway|load|network-policies [--dir DIR] [--name NAME]`.

(make kind-up | kind-down | kind-status)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localprocs import exit_on_sigterm

from .cluster import DEFAULT_DIR, NAME, KindCluster, KindError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localkind", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "kubeconfig", "gateway", "load",
                                            "network-policies"],
                        help="gateway: the host's IPv4 address pods reach it by; load REF...: images into every "
                             "node; network-policies: (re)apply the NetworkPolicy enforcer, a step of up")
    parser.add_argument("refs", nargs="*", help="images, for load")
    parser.add_argument("--via", choices=["load", "registry"], default="registry",
                        help="load: podman save + kind load; registry: push to the cluster's registry (default)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"state directory (default {DEFAULT_DIR})")
    parser.add_argument("--name", default=NAME, help=f"kind cluster name (default {NAME})")
    args = parser.parse_intermixed_args(argv)
    exit_on_sigterm()
    cluster = KindCluster(args.dir.resolve(), args.name)
    try:
        if args.command == "up":
            cluster.up()
        elif args.command == "down":
            cluster.down()
        elif args.command == "status":
            print(cluster.status())
        elif args.command == "network-policies":
            cluster.network_policies()
        elif args.command == "gateway":
            print(cluster.gateway())
        elif args.command == "load":
            from . import delivery
            if args.via == "load":
                delivery.load(cluster, args.refs)
                names = {ref: ref for ref in args.refs}
            else:
                names = delivery.push(cluster, args.refs)
            for ref in args.refs:  # what pods name the image by, one per line: REF NAME
                print(f"{ref} {names[ref]}")
        else:
            print(cluster.kubeconfig)
    except (KindError, FileNotFoundError) as e:
        print(f"localkind: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
