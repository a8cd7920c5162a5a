"""Load generator: closed-loop clients replaying one request body, over HTTP (aiohttp) or gRPC
(grpcio's asyncio channel, the body a pre-serialized message sent as is).

Runs in its own process so its CPU shows up as a separate cost, not inside the server.

    python bench/server_load.py --url URL --body FILE --content-type T --concurrency 1,8,32
    python bench/server_load.py --url grpc://HOST:PORT/package.Service/Method --body FILE ...

Prints one JSON line: {"<concurrency>": {"ips": [per rep], "latencies_ms": [...], "errors": n,
"error_sample": str|null}}. Repetitions are interleaved across concurrency levels so a noisy
neighbour hurts every level alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

Send = Callable[[], Awaitable[str | None]]  # one request; None when it succeeded, else why not


async def one_run(send: Send, concurrency: int, max_requests: int, seconds: float):
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker():
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            sent += 1
            t0 = time.perf_counter()
            error = await send()
            if error is None:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors.append(error)

    start = time.perf_counter()
    # No new request after the deadline; those in flight finish (and count), so a run never
    # leaves work behind in the server to slow the next one. It lasts about
    # max(seconds, concurrency x service time).
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return len(latencies) / wall, latencies, errors


def http_sender(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> Send:
    async def send() -> str | None:
        try:
            async with session.post(url, data=body, headers=headers) as r:
                payload = await r.read()
        except (TimeoutError, aiohttp.ClientError) as e:
            return f"{type(e).__name__}: {e}"
        return None if r.status == 200 else f"HTTP {r.status}: {payload[:200]!r}"
    return send


def grpc_sender(channel, method: str, body: bytes) -> Send:
    import grpc

    call = channel.unary_unary(method)  # no serializers: the body is already the message's bytes

    async def send() -> str | None:
        try:
            await call(body, timeout=300)
        except grpc.aio.AioRpcError as e:
            return f"gRPC {e.code().name}: {e.details()[:200]}"
        return None
    return send


async def drive(send: Send, levels: list[int], args) -> dict:
    out = {str(c): {"ips": [], "latencies_ms": [], "errors": 0, "error_sample": None} for c in levels}
    top = max(levels)  # warm-up: connections open, first calls traced, caches filled
    await one_run(send, top, top, args.seconds)
    for _ in range(args.reps):
        for c in levels:
            ips, lat, errs = await one_run(send, c, max(args.requests, 4 * c), args.seconds)
            slot = out[str(c)]
            slot["ips"].append(ips)
            slot["latencies_ms"].extend(lat)
            slot["errors"] += len(errs)
            slot["error_sample"] = slot["error_sample"] or (errs[0] if errs else None)
    return out


async def run(args) -> dict:
    body = Path(args.body).read_bytes()
    levels = [int(c) for c in args.concurrency.split(",")]
    if args.url.startswith("grpc://"):
        import grpc

        url = urlsplit(args.url)
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        # One channel per worker slot would be closer to many clients; one shared HTTP/2 channel
        # is what a single client process (and tritonclient) uses.
        async with grpc.aio.insecure_channel(url.netloc, options=options) as channel:
            return await drive(grpc_sender(channel, url.path, body), levels, args)
    headers = {"Content-Type": args.content_type, **dict(h.split(":", 1) for h in args.header)}
    timeout = aiohttp.ClientTimeout(total=300)  # only a hung server gets near this
    connector = aiohttp.TCPConnector(limit=max(levels), force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await drive(http_sender(session, args.url, body, headers), levels, args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="http(s)://... or grpc://host:port/package.Service/Method")
    p.add_argument("--body", required=True, help="file holding the request body (a serialized message for gRPC)")
    p.add_argument("--content-type", default="application/json")
    p.add_argument("--header", action="append", default=[], help="extra HTTP header, NAME:VALUE (repeatable)")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--requests", type=int, default=200, help="requests per run (at least 4 x concurrency)")
    p.add_argument("--seconds", type=float, default=6.0, help="time cap per run")
    p.add_argument("--reps", type=int, default=3)
    print(json.dumps(asyncio.run(run(p.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
