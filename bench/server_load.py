"""Load generator: closed-loop HTTP clients (aiohttp) replaying one request body.

Runs in its own process so its CPU shows up as a separate cost, not inside the server.

    python bench/server_load.py --url URL --body FILE --content-type T --concurrency 1,8,32

Prints one JSON line: {"<concurrency>": {"ips": [per rep], "latencies_ms": [...], "errors": n,
"error_sample": str|null}}. Repetitions are interleaved across concurrency levels so a noisy
neighbour hurts every level alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp


async def one_run(session, url, body, headers, concurrency, max_requests, seconds):
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            sent += 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as r:
                    payload = await r.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}")
                continue
            if r.status != 200:
                errors.append(f"HTTP {r.status}: {payload[:200]!r}")
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    # No new request after the deadline; those in flight finish (and count), so a run never
    # leaves work behind in the server to slow the next one. It lasts about
    # max(seconds, concurrency x service time).
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return len(latencies) / wall, latencies, errors


async def run(args) -> dict:
    body = Path(args.body).read_bytes()
    headers = {"Content-Type": args.content_type}
    levels = [int(c) for c in args.concurrency.split(",")]
    out = {str(c): {"ips": [], "latencies_ms": [], "errors": 0, "error_sample": None} for c in levels}
    timeout = aiohttp.ClientTimeout(total=300)  # only a hung server gets near this
    connector = aiohttp.TCPConnector(limit=max(levels), force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        top = max(levels)  # warm-up: connections open, first calls traced, caches filled
        await one_run(session, args.url, body, headers, top, top, args.seconds)
        for _ in range(args.reps):
            for c in levels:
                n = max(args.requests, 4 * c)
                ips, lat, errs = await one_run(session, args.url, body, headers, c, n, args.seconds)
                slot = out[str(c)]
                slot["ips"].append(ips)
                slot["latencies_ms"].extend(lat)
                slot["errors"] += len(errs)
                slot["error_sample"] = slot["error_sample"] or (errs[0] if errs else None)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, help="file holding the request body")
    p.add_argument("--content-type", default="application/json")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--requests", type=int, default=200, help="requests per run (at least 4 x concurrency)")
    p.add_argument("--seconds", type=float, default=6.0, help="time cap per run")
    p.add_argument("--reps", type=int, default=3)
    print(json.dumps(asyncio.run(run(p.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
