"""Safe archive unpacking and finding the SavedModel inside what was downloaded."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path


class ArchiveError(Exception):
    pass


def is_archive(path: Path) -> bool:
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def unpack(archive: Path, dest: Path) -> None:
    """Unpack a .tar(.gz) or .zip into dest; members that would land outside dest are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            try:
                # The "data" filter refuses absolute paths, `..`, links out of dest and device files.
                tar.extractall(dest, filter="data")
            except tarfile.FilterError as exc:
                raise ArchiveError(f"unsafe archive member refused: {exc}") from exc
    elif zipfile.is_zipfile(archive):
        root = dest.resolve()
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                target = (root / name).resolve()
                if target != root and root not in target.parents:
                    raise ArchiveError(f"unsafe archive member refused: {name!r} would land outside")
            zf.extractall(dest)
    else:
        raise ArchiveError("not a .tar, .tar.gz or .zip archive")


def find_saved_model(root: Path) -> Path:
    """The directory holding saved_model.pb: root itself, or `<name>/saved_model/` as the Zoo ships."""
    if (root / "saved_model.pb").is_file():
        return root
    found = sorted(root.rglob("saved_model.pb"), key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise ArchiveError(
            "no saved_model.pb inside (expected saved_model.pb at the top, or <name>/saved_model/saved_model.pb "
            "as the TF2 Detection Model Zoo ships it)"
        )
    return found[0].parent
