"""Where a server's time goes under load: py-spy samples the process (every Python thread that is
not idle; native time shows as the Python frame that called it) while a load runs; the summary
groups samples by what they were doing.

    python bench/server_profile.py summary FILE    # a py-spy --format raw file
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

# First match from the leaf up names the sample's category (file paths or native symbols).
CATEGORIES = [
    ("TensorFlow (model call)", re.compile(r"tensorflow|_pywrap|libtensorflow|Eigen|tsl::|dnnl|xla")),
    ("gRPC", re.compile(r"grpc")),
    ("HTTP (uvicorn, h11, starlette, fastapi)", re.compile(r"uvicorn|h11|httptools|starlette|fastapi|anyio")),
    ("JSON", re.compile(r"json|numeric_json")),
    ("image decode (Pillow)", re.compile(r"PIL|libjpeg|ImagingDecode")),
    ("protocol codecs and dataplane", re.compile(r"inference_server")),
    ("numpy", re.compile(r"numpy")),
    ("event loop and threads", re.compile(r"asyncio|selectors|threading|concurrent|queue\.py|epoll")),
]


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """Start sampling (returns at once); the raw stacks land in `out` after `seconds`."""
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
         "--format", "raw", "--output", str(out), "--threads", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if pattern.search(frame):
                return name
    return "other"


def summary(raw: Path, top: int = 8) -> str:
    """Share of samples per category, then the busiest leaf functions."""
    by_category: collections.Counter[str] = collections.Counter()
    by_leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        n = int(count)
        total += n
        by_category[_category(frames)] += n
        by_leaf[frames[-1] if frames else "?"] += n
    if not total:
        return "(no samples)"
    lines = ["| where | share of samples |", "|---|---:|"]
    lines += [f"| {name} | {100 * n / total:.0f}% |" for name, n in by_category.most_common()]
    lines += ["", "| busiest leaf frames | share |", "|---|---:|"]
    lines += [f"| `{leaf[:110]}` | {100 * n / total:.0f}% |" for leaf, n in by_leaf.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "summary":
        sys.exit(__doc__)
    print(summary(Path(sys.argv[2])))
