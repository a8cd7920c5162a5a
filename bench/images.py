"""Image figures: sizes, build times (warm, and cold with --cold) and the server pod's start-up.

    .venv/bin/python bench/images.py            # sizes, warm build, pod start-up (about 2 minutes)
    .venv/bin/python bench/images.py --cold     # also a cold build in a scratch store (~10 minutes)

- sizes: the stand-in base (when that is what the images are built on) and both images,
  unpacked and as the gzip-compressed layers a push would upload (`podman push --compress`);
- warm build: `python -m localimages build` with nothing changed (the cost in every `make test`);
- cold build: the same with DETECTOR_CACHE pointing at an empty scratch directory, so the base,
  every layer and every wheel download happen again (TensorFlow alone is ~600 MB of wheels);
- pod start-up: the builders' server pod run by podman (tests/support/podman_pod.py) with the tiny
  Zoo model from a local HTTP server: the init container's run, and server start -> ready
  (its readiness probe answering 200), medians over --reps pods.
The machine is shared: medians, and the spread beside them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import localimages  # noqa: E402
from detector_operator.settings import Settings  # noqa: E402
from localimages import measure  # noqa: E402
from tests.support.object_stores import GatedFileServer  # noqa: E402
from tests.support.podman_pod import PodmanPod, host_url  # noqa: E402
from tests.support.pods import plan, pod_template  # noqa: E402
from tests.support.zoo_model import build_zoo_savedmodel, make_zoo_tarball  # noqa: E402


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def base_seconds(log: str) -> float | None:
    """When the stand-in base was ready, from the build's progress lines ("[images +  139s] ...")."""
    for line in log.splitlines():
        if "base: stand-in" in line and line.endswith("ready"):
            return float(line.split("+", 1)[1].split("s]", 1)[0])
    return None


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def pod_startup(image: str, reps: int, work: Path) -> tuple[list[float], list[float]]:
    model = build_zoo_savedmodel(work / "model")
    make_zoo_tarball(model, work / "www" / "tiny.tar.gz")
    server = GatedFileServer(work / "www")
    port = int(server.url.rsplit(":", 1)[1])
    template = pod_template({"modelUri": host_url(port, "/tiny.tar.gz")}, settings=Settings(cpu_image=image))
    inits, readies = [], []
    try:
        for i in range(reps):
            with PodmanPod(plan(template), work / f"pod-{i}", name="bench") as pod:
                started = time.monotonic()
                (init,) = pod.run_init()
                assert init.exit_code == 0, init.output
                inits.append(time.monotonic() - started)
                started = time.monotonic()
                pod.start().wait_ready(timeout=300)
                readies.append(time.monotonic() - started)
    finally:
        server.close()
    return inits, readies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="also time a cold build in a scratch store")
    parser.add_argument("--cold-only", action="store_true", help="only the cold build")
    args = parser.parse_args()
    build = [sys.executable, "-m", "localimages", "build"]
    if not args.cold_only:
        warm_figures(build, args.reps)
    if args.cold or args.cold_only:
        cold_figures(build)
    return 0


def warm_figures(build: list[str], reps: int) -> None:
    images = localimages.ensure(localimages.DEFAULT)
    warm = [timed(build) for _ in range(reps)]
    print(f"warm build (nothing changed): {spread(warm)}")

    refs = [images[n].ref for n in localimages.DEFAULT]
    base = images["server-cpu"].base
    for ref in ([base.ref] if base.standin else []) + refs:
        size = measure.sizes(ref)
        print(f"size {ref}: {size.uncompressed / 1e6:.0f} MB unpacked, {size.compressed / 1e6:.0f} MB compressed "
              f"({size.layers} layers)")

    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        inits, readies = pod_startup(images["server-cpu"].ref, reps, Path(tmp))
    print(f"server pod: init container (download + unpack the tiny model) {spread(inits)}")
    print(f"server pod: server start -> ready {spread(readies)}")


def cold_figures(build: list[str]) -> None:
    """A scratch DETECTOR_CACHE: a new store, so base, layers and wheels all come again."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-cold-", dir=localimages.ROOT.parent))
    env = {**os.environ, "DETECTOR_CACHE": str(scratch)}
    try:
        for name in localimages.DEFAULT:  # one at a time: the first pays for the base
            started = time.monotonic()
            done = subprocess.run([*build, name], env=env, check=True, capture_output=True, text=True)
            seconds, base_done = time.monotonic() - started, base_seconds(done.stdout)
            note = f" (the stand-in base took {base_done:.0f} s of it)" if base_done else ""
            print(f"cold build {name}: {seconds:.0f} s{note}", flush=True)
    finally:
        reset = ("import localimages, subprocess; "
                 "subprocess.run(['podman', 'system', 'reset', '--force'], env=localimages.env())")
        subprocess.run([sys.executable, "-c", reset], env=env, check=False)
        shutil.rmtree(scratch, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
