"""`python -m localimages build|env|sizes`: the project's images (`make images` runs build)."""
from __future__ import annotations

import argparse
import shlex
import sys

from . import build, engine, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localimages", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the images that are missing or out of date, print their names")
    b.add_argument("names", nargs="*", default=list(build.DEFAULT), help=f"of {sorted(build.IMAGES)}")
    b.add_argument("--engine", choices=["auto", "podman", "docker"], default="auto",
                   help="auto: docker when a docker engine answers, else buildah")
    b.add_argument("--base", choices=["auto", "registry", "standin"], default="auto",
                   help="auto: the registry's python image when it can be pulled, else the Debian stand-in")
    b.add_argument("--tag", default=None, help="also tag the (single) image with this name; nothing is pushed")
    sub.add_parser("env", help="the CONTAINERS_* variables that select this store, as shell exports")
    s = sub.add_parser("sizes", help="uncompressed and gzip-compressed size of built images")
    s.add_argument("refs", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "env":
            print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in engine.configure().items()))
        elif args.command == "sizes":
            for ref in args.refs:
                size = measure.sizes(ref)
                print(f"{ref}: {size.uncompressed / 1e6:.0f} MB uncompressed, {size.compressed / 1e6:.0f} MB "
                      f"compressed ({size.layers} layers)")
        else:
            if args.tag and len(args.names) != 1:
                parser.error("--tag names one image")
            built = build.ensure(args.names, engine_choice=args.engine, base_choice=args.base, podman_store=False)
            for image in built.values():
                if args.tag:
                    if image.base.standin:
                        parser.error("--tag: refusing to give a release name to an image on the stand-in base")
                    build.tag(image, args.tag, args.engine)
                note = " (on the Debian stand-in base: never push)" if image.base.standin else ""
                print(f"{image.name}: {image.ref}{note}" + (f" tagged {args.tag}" if args.tag else ""))
    except engine.EngineError as e:
        print(f"localimages: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
