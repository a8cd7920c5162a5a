"""Run `python -m inference_server` with a proposed change applied from outside, to measure it
before anyone edits the server:

    python bench/server_variant.py --gc-freeze -- --model-uri DIR --port 8080 ...

--gc-freeze: after the model loads, move every object alive then (TensorFlow's ~300k Python
objects) out of the garbage collector's reach with gc.freeze(). Without it, decoding a JSON
tensor (hundreds of thousands of new lists and ints) triggers full collections that walk
TensorFlow's whole heap again and again.

Run it with .venv-kserve's python to get uvicorn's uvloop + httptools, which KServe installs
(uvicorn[standard]) and the project's .venv does not.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def freeze_after_load() -> None:
    from inference_server import model

    load = model.Detector.load

    def load_then_freeze(self, *args, **kwargs):
        load(self, *args, **kwargs)
        gc.collect()
        gc.freeze()

    model.Detector.load = load_then_freeze


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gc-freeze", action="store_true")
    p.add_argument("server_args", nargs=argparse.REMAINDER, help="after --: python -m inference_server's flags")
    args = p.parse_args()
    if args.gc_freeze:
        freeze_after_load()
    from inference_server.__main__ import main as serve

    server_args = args.server_args[1:] if args.server_args[:1] == ["--"] else args.server_args
    return serve(server_args)


if __name__ == "__main__":
    sys.exit(main())
