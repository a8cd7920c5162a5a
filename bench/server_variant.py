"""Run `python -m inference_server` with a proposed change applied from outside, to measure it
before anyone edits the server:

    python bench/server_variant.py [--gc-freeze] [--eager-batching] -- --model-uri DIR --port 8080 ...

--gc-freeze: after the model loads, move every object alive then (TensorFlow's ~300k Python
objects) out of the garbage collector's reach with gc.freeze(). Without it, decoding a JSON
tensor (hundreds of thousands of new lists and ints) triggers full collections that walk
TensorFlow's whole heap again and again.

--eager-batching: a lone request goes to the model at once instead of waiting --batch-timeout-ms
for company; requests that arrive while a batch runs are sent together as soon as it ends (the
timeout stays as the upper bound). Batches form under load only, where they pay.

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


def eager_batching() -> None:
    import asyncio

    from inference_server import batching

    cls = batching.MicroBatcher
    run = cls._run

    async def submit(self, images):  # MicroBatcher.submit, plus "flush now when idle"
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        key = tuple(images.shape[1:])
        queue = self._queues.setdefault(key, batching._Queue())
        if queue.items and queue.size + len(images) > self._max:
            self._flush(key)
            queue = self._queues.setdefault(key, batching._Queue())
        queue.items.append(batching._Pending(images, future))
        queue.size += len(images)
        if queue.size >= self._max or self._delay == 0 or not self._running:
            self._flush(key)
        elif queue.timer is None:
            queue.timer = loop.call_later(self._delay, self._flush, key)
        return await future

    async def run_then_flush(self, items):
        await run(self, items)
        for key in list(self._queues):  # what gathered meanwhile goes next, without waiting
            self._flush(key)

    cls.submit, cls._run = submit, run_then_flush


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gc-freeze", action="store_true")
    p.add_argument("--eager-batching", action="store_true")
    p.add_argument("server_args", nargs=argparse.REMAINDER, help="after --: python -m inference_server's flags")
    args = p.parse_args()
    if args.gc_freeze:
        freeze_after_load()
    if args.eager_batching:
        eager_batching()
    from inference_server.__main__ import main as serve

    server_args = args.server_args[1:] if args.server_args[:1] == ["--"] else args.server_args
    return serve(server_args)


if __name__ == "__main__":
    sys.exit(main())
