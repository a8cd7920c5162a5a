"""Image sizes as a registry would see them: the unpacked size, and the gzip-compressed layers
a push would upload (`podman push --compress` to a directory)."""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import engine


@dataclass(frozen=True)
class Sizes:
    uncompressed: int
    compressed: int
    layers: int


def sizes(ref: str) -> Sizes:
    inspect = json.loads(engine.run(["podman", "image", "inspect", ref]).stdout)[0]
    with tempfile.TemporaryDirectory(dir=engine.ROOT / "tmp") as tmp:
        out = Path(tmp) / "image"
        engine.run(["podman", "push", "--quiet", "--compress", ref, f"dir:{out}"], timeout=1800)
        manifest = json.loads((out / "manifest.json").read_text())
        compressed = sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
        shutil.rmtree(out)
    return Sizes(uncompressed=int(inspect["Size"]), compressed=compressed, layers=len(manifest["layers"]))
