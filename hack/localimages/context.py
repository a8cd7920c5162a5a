"""The build context as Docker sees it (.dockerignore applied), and a key for its content.

An image is rebuilt only when something it is built from changes: the Dockerfile, the build
arguments, the base image, or a context file its Dockerfile COPYs (so an operator change does
not rebuild the server image). The key hashes exactly those, so a warm run costs one hash of a
few hundred small files and one `image exists`.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path


def _patterns(dockerignore: Path) -> list[tuple[bool, re.Pattern, str]]:
    """(negated, regex, pattern) per line, in order."""
    found = []
    for raw in dockerignore.read_text().splitlines() if dockerignore.exists() else ():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        found.append((negate, re.compile(_glob_to_regex(pattern)), pattern))
    return found


def _glob_to_regex(pattern: str) -> str:
    # `**` spans directories, `*` and `?` stay within one path element.
    pieces = pattern.split("**")
    translated = [fnmatch.translate(p).removeprefix("(?s:").removesuffix(")\\Z") for p in pieces]
    translated = [t.replace(".*", "[^/]*") for t in translated]
    return ".*".join(translated)


def excluded(dockerignore: Path, path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    return _excluded(_patterns(dockerignore), path)


def _excluded(patterns: list[tuple[bool, re.Pattern, str]], path: str) -> bool:
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for negate, regex, _ in patterns:
        if any(regex.fullmatch(c) for c in candidates):
            result = not negate
    return result


def context_files(root: Path) -> list[str]:
    """Every file the build context holds, relative to root, sorted."""
    patterns = _patterns(root / ".dockerignore")
    # A directory can be skipped whole when it is excluded and no `!` pattern reaches inside it.
    reinclusions = [p for negate, _, p in patterns if negate]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        keep = []
        for d in sorted(dirnames):
            path = prefix + d
            if _excluded(patterns, path) and not any(p == path or p.startswith(path + "/") for p in reinclusions):
                continue
            keep.append(d)
        dirnames[:] = keep
        found += [prefix + f for f in filenames if not _excluded(patterns, prefix + f)]
    return sorted(found)


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths the Dockerfile's COPY/ADD instructions take (not --from=stage)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    sources = []
    for line in text.splitlines():
        keyword, _, args = line.strip().partition(" ")
        if keyword.upper() not in ("COPY", "ADD"):
            continue
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        sources += [w.rstrip("/") for w in words if not w.startswith("--")][:-1]
    return sources


def content_key(root: Path, dockerfile: str, build_args: Mapping[str, str], base_id: str,
                extra: Iterable[str] = ()) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("dockerfile", (root / dockerfile).read_bytes())
    add("args", repr(sorted(build_args.items())).encode())
    add("base", base_id.encode())
    for item in extra:
        add("extra", item.encode())
    sources = copied_sources(root / dockerfile)
    for rel in context_files(root):
        if any(src in (".", "") or rel == src or rel.startswith(src + "/") for src in sources):
            add(f"file:{rel}:{os.access(root / rel, os.X_OK)}", (root / rel).read_bytes())
    return digest.hexdigest()
