"""`python -m detector_operator [--standalone]`: run the operator with settings from the env."""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys

import kopf

from detector_operator.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector_operator", description=__doc__)
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="skip kopf peering (only safe when a single replica runs)",
    )
    args = parser.parse_args(argv)
    try:
        config = Settings.from_env(os.environ)
    except SettingsError as e:
        print(f"detector-operator: {e}", file=sys.stderr)
        return 2
    kopf.configure(verbose=config.log_level == "DEBUG")
    logging.getLogger().setLevel(config.log_level)
    if config.log_level != "DEBUG":
        # kopf logs every handled watch event at INFO; our own log says what was done.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    import detector_operator.handlers  # noqa: F401  (registers the handlers)

    # Equal priorities make kopf pause every replica; a random one per process lets exactly one
    # replica (the highest) act while the others wait as hot standbys.
    priority = random.SystemRandom().randint(1, 2**30)
    kopf.run(
        standalone=args.standalone,
        priority=None if args.standalone else priority,
        peering_name=None if args.standalone else config.peering_name,
        clusterwide=not config.watch_namespaces,
        namespaces=config.watch_namespaces,
        liveness_endpoint=f"http://0.0.0.0:{config.liveness_port}/healthz",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
