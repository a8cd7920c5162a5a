"""Rough figures for the server's README: start-up to ready, :detect latency, batching's effect.

    .venv/bin/python -m tests.support.measure_server

Builds the tiny Zoo model, serves it from a Zoo-style tarball with real uvicorn processes on
127.0.0.1 and measures over real HTTP. Not a benchmark (see bench/): one client machine, 2 cores.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from .images import encode, picture
from .server_process import ServerProcess
from .zoo_model import build_zoo_savedmodel, make_zoo_tarball

PNG = {"content-type": "image/png"}


async def _concurrent(url: str, body: bytes, clients: int, per_client: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        async def one() -> None:
            for _ in range(per_client):
                (await c.post("/v1/models/detector:detect", content=body, headers=PNG)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(clients)))
        return clients * per_client / (time.perf_counter() - started)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="measure-server-"))
    started = time.perf_counter()
    model = build_zoo_savedmodel(work / "saved_model")
    print(f"build tiny Zoo SavedModel: {time.perf_counter() - started:.2f}s, "
          f"{sum(f.stat().st_size for f in model.rglob('*') if f.is_file()) / 1024:.0f} KiB")
    tarball = make_zoo_tarball(model, work / "tiny_ssd.tar.gz")
    body = encode(picture(320, 240))
    for batch in ("8", "1"):
        started = time.perf_counter()
        server = ServerProcess(str(tarball), "--max-batch-size", batch, "--batch-timeout-ms", "5", log_dir=work)
        try:
            server.wait_ready()
            ready = time.perf_counter() - started
            with httpx.Client(base_url=server.url, timeout=30) as c:
                latencies = []
                for _ in range(100):
                    t = time.perf_counter()
                    c.post("/v1/models/detector:detect", content=body, headers=PNG).raise_for_status()
                    latencies.append((time.perf_counter() - t) * 1000)
            rate = asyncio.run(_concurrent(server.url, body, clients=16, per_client=20))
        finally:
            server.stop()
        latencies.sort()
        print(f"--max-batch-size {batch}: process start to ready {ready:.1f}s; sequential :detect 320x240 PNG "
              f"p50 {statistics.median(latencies):.1f} ms, p95 {latencies[94]:.1f} ms; "
              f"16 concurrent clients {rate:.0f} images/s")


if __name__ == "__main__":
    main()
