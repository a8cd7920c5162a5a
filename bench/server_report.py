"""The server benchmark's tables: every measurement, then each API at its best against the floor
and KServe, then the issue's goals, each against its figure."""

from __future__ import annotations

from dataclasses import dataclass

from server_apis import APIS

KSERVE_GOAL = 1.5  # at least this many times KServe's images/s on the same protocol
OVERHEAD_GOAL_MS = 2.0  # p50 at concurrency 1, over the model alone at batch 1


@dataclass
class Row:
    target: str  # floor | server | kserve
    api: str  # "in-process" for the floor, else an APIS key
    size: int
    level: int  # batch size for the floor, concurrency otherwise
    ips: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    server_cpu_ms_per_image: float | None = None
    loadgen_cpu_ms_per_image: float | None = None


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def label(api: str) -> str:
    return APIS[api].label if api in APIS else api


def best(rows: list[Row]) -> dict[tuple[str, str, int], Row]:
    top: dict[tuple[str, str, int], Row] = {}
    for r in rows:
        key = (r.target, r.api, r.size)
        if key not in top or r.ips > top[key].ips:
            top[key] = r
    return top


def at_level(rows: list[Row], target: str, api: str, size: int, level: int) -> Row | None:
    return next((r for r in rows if (r.target, r.api, r.size, r.level) == (target, api, size, level)), None)


def report(rows: list[Row]) -> str:
    lines = [("| target | API | image | batch / concurrency | images/s | p50 ms | p99 ms | server CPU ms/img | "
              "loadgen CPU ms/img | errors |"), "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    lines.extend(f"| {r.target} | {label(r.api)} | {r.size}x{r.size} | {r.level} | {r.ips:.1f} | "
                 f"{fmt(r.p50_ms, '.1f')} | {fmt(r.p99_ms, '.1f')} | {fmt(r.server_cpu_ms_per_image, '.2f')} | "
                 f"{fmt(r.loadgen_cpu_ms_per_image, '.2f')} | {r.errors} |" for r in rows)
    top = best(rows)
    lines += ["", "Saturation (best images/s over batch sizes / concurrency levels):", "",
              "| image | API | server | floor | server/floor | KServe | server/KServe |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for (target, api, size), r in sorted(top.items(), key=lambda kv: (kv[0][2], list(APIS).index(kv[0][1])
                                                                        if kv[0][1] in APIS else -1)):
        if target != "server":
            continue
        floor = top.get(("floor", "in-process", size))
        ks = top.get(("kserve", api, size))
        lines.append(f"| {size}x{size} | {label(api)} | {r.ips:.1f} | {fmt(floor and floor.ips, '.1f')} | "
                     f"{fmt(floor and r.ips / floor.ips, '.2f')} | {fmt(ks and ks.ips, '.1f')} | "
                     f"{fmt(ks and r.ips / ks.ips, '.2f')} |")
    return "\n".join([*lines, "", goals(rows)])


def goals(rows: list[Row]) -> str:
    """Each goal of issue 11 against its figure: met or not, with the numbers."""
    top = best(rows)
    lines = ["Goals:", "", "| image | API | goal | figure | met |", "|---|---|---|---:|---|"]

    def add(size: int, api: str, goal: str, value: float | None, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("yes" if ok else "NO")
        lines.append(f"| {size}x{size} | {label(api)} | {goal} | {fmt(value, '.2f')} | {verdict} |")

    for size in sorted({r.size for r in rows}):
        floor = top.get(("floor", "in-process", size))
        floor_b1 = at_level(rows, "floor", "in-process", size, 1)
        for key, api in APIS.items():
            mine = top.get(("server", key, size))
            if mine is None:
                continue
            if api.floor_goal is not None and floor:
                ratio = mine.ips / floor.ips
                add(size, key, f">= {api.floor_goal:.2f} of the floor", ratio, ratio >= api.floor_goal)
            theirs = top.get(("kserve", key, size))
            if theirs:
                ratio = mine.ips / theirs.ips
                add(size, key, f">= {KSERVE_GOAL:.1f}x KServe", ratio, ratio >= KSERVE_GOAL)
            single = at_level(rows, "server", key, size, 1)
            if single and single.p50_ms is not None and floor_b1:
                overhead = single.p50_ms - 1000.0 / floor_b1.ips
                add(size, key, f"p50 at c=1 <= {OVERHEAD_GOAL_MS:g} ms over the model (ms)", overhead,
                    overhead <= OVERHEAD_GOAL_MS)
    return "\n".join(lines)
