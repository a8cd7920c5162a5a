"""The floor: the SavedModel's serving signature called in-process, no HTTP, no JSON.

    python bench/server_raw.py build tiny|mobile DIR  # a Zoo-signature model (bench/server_models.py)
    python bench/server_raw.py floor --model DIR --size 320 --batches 1,8,32 --seconds 3

`floor` prints one JSON line: {"size": ..., "batches": {"1": images_per_s, ...}} with each
figure the median of --reps timed runs after a warm-up (the first call traces the graph).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from server_payloads import scene  # noqa: E402


def images_per_second(fn, batch, n_images: int, seconds: float) -> float:
    """Calls until n_images are done or `seconds` pass (at least 3 calls); images/s."""
    calls, start = 0, time.perf_counter()
    while True:
        fn(input_tensor=batch)["num_detections"].numpy()  # .numpy() waits for the result
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= 3 and (calls * len(batch) >= n_images or elapsed >= seconds):
            return calls * len(batch) / elapsed


def floor(model: Path, size: int, batches: list[int], seconds: float, reps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(str(model)).signatures["serving_default"]
    image = scene(size)
    result = {}
    for b in batches:
        batch = tf.constant(np.repeat(image[None], b, axis=0))
        fn(input_tensor=batch)  # trace and warm this shape
        runs = [images_per_second(fn, batch, n_images=max(64, 8 * b), seconds=seconds) for _ in range(reps)]
        result[str(b)] = statistics.median(runs)
    return {"size": size, "batches": result}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("kind", choices=["tiny", "mobile"])
    b.add_argument("dest", type=Path)
    f = sub.add_parser("floor")
    f.add_argument("--model", type=Path, required=True)
    f.add_argument("--size", type=int, default=320)
    f.add_argument("--batches", default="1,8,32")
    f.add_argument("--seconds", type=float, default=3.0, help="time cap per timed run")
    f.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    if args.cmd == "build":
        from server_models import build

        build(args.kind, args.dest)
    else:
        batches = [int(x) for x in args.batches.split(",")]
        print(json.dumps(floor(args.model, args.size, batches, args.seconds, args.reps)), flush=True)


if __name__ == "__main__":
    main()
