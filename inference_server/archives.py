"""Safe archive unpacking and finding the SavedModel inside what was downloaded.

Tarballs are unpacked member by member by this module, not by `TarFile.extractall`: its
extraction filters (`filter="data"`, `tarfile.FilterError`) exist only from Python 3.11.4, and
Debian bookworm's Python is 3.11.2. One code path on every Python we support, so the rules the
tests check are the rules every image runs:

- regular files and directories land under dest; owners and mode bits from the archive are
  ignored (files and directories get the default permissions), like the "data" filter;
- a symlink or hard link must point inside dest; hard links are copied;
- absolute names, any `..` component, device files and FIFOs are refused (stricter than the
  "data" filter, which allows a `..` that stays inside: tar itself never writes one);
- every write is checked against the real path it would reach, so a link unpacked earlier
  cannot carry a later member out of dest.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath


class ArchiveError(Exception):
    pass


def is_archive(path: Path) -> bool:
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def unpack(archive: Path, dest: Path) -> None:
    """Unpack a .tar(.gz) or .zip into dest; members that would land outside dest are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                for member in tar:
                    _extract_tar_member(tar, member, root)
            _check_links_stay_inside(root)
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _inside(root, root / name, name)
                zf.extractall(root)  # zipfile never creates links or device files
        else:
            raise ArchiveError("not a .tar, .tar.gz or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        # A download cut short reads as a truncated archive: say so, not "ReadError".
        raise ArchiveError(f"corrupt or truncated archive: {exc}") from exc


def _refuse(name: str, why: str) -> ArchiveError:
    return ArchiveError(f"unsafe archive member refused: {name!r} {why}")


def _inside(root: Path, path: Path, name: str) -> Path:
    """The real path `path` reaches (links followed); refused when that is not under root."""
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        raise _refuse(name, "would land outside the destination")
    return real


def _parts(name: str) -> tuple[str, ...]:
    path = PurePosixPath(name)
    if path.is_absolute():
        raise _refuse(name, "has an absolute path")
    if ".." in path.parts:
        raise _refuse(name, "has a '..' component")
    return path.parts


def _target(root: Path, name: str) -> Path | None:
    """Where the member itself goes: its directory resolved (links followed), its own name not,
    so an existing link of the same name is replaced rather than written through."""
    parts = _parts(name)
    if not parts:
        return None  # "./": dest itself
    parent = _inside(root, root.joinpath(*parts[:-1]), name)
    return parent / parts[-1]


def _extract_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path) -> None:
    name = member.name
    target = _target(root, name)
    if member.ischr() or member.isblk() or member.isfifo():
        raise _refuse(name, "is a device file or FIFO")
    if target is None:
        return
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        _inside(root, target, name)  # an existing link of that name must point inside too
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if member.issym():
        if PurePosixPath(member.linkname).is_absolute():
            raise _refuse(name, f"links to the absolute path {member.linkname!r}")
        _inside(root, target.parent / member.linkname, name)
        _remove(target)
        target.symlink_to(member.linkname)
    elif member.islnk():
        source = _inside(root, root.joinpath(*_parts(member.linkname)), name)
        if not source.is_file():
            raise _refuse(name, f"is a hard link to {member.linkname!r}, which is not a file unpacked before it")
        _remove(target)
        shutil.copyfile(source, target)
    elif member.isfile():
        _remove(target)
        extracted = tar.extractfile(member)
        with extracted, open(target, "xb") as out:
            shutil.copyfileobj(extracted, out)
    else:
        raise _refuse(name, f"has an unsupported type {member.type!r}")


def _remove(path: Path) -> None:
    """A later member replaces an earlier one of the same name (as tar does); never a directory."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        raise ArchiveError(f"archive member {path.name!r} would replace a directory")


def _check_links_stay_inside(root: Path) -> None:
    """A link checked when it was made can be bent out of dest by a later link it passes through."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                _inside(root, path, str(path.relative_to(root)))


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
