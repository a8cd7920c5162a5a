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
  cannot carry a later member out of dest;
- the caps of download_limits.py hold before anything is written: member count, the total of
  the sizes the archive declares (a GNU sparse member at its expanded size: tarfile reports
  that, and extracting it writes every byte of the holes), the ratio of that total to the
  archive's size, and, as the bytes stream out, the bytes written and their ratio to the
  compressed bytes read so far.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from .download_limits import DownloadLimits, LimitExceeded, check_bytes, check_ratio

_CHUNK = 1 << 20
UNPACKS_TO = "the archive unpacks to"


class ArchiveError(Exception):
    pass


class ArchiveTooLarge(ArchiveError):
    """The archive breaks a cap of download_limits.py: a bomb, or a model too big for its volume."""


class _Budget:
    """What an archive may still write: its declared sizes all checked before the first member is
    written (`declare`), then every chunk as it streams out (`wrote`)."""

    def __init__(self, limits: DownloadLimits, archive_size: int, raw: IO[bytes]) -> None:
        self.limits, self.archive_size, self.raw = limits, archive_size, raw
        self.members = self.declared = self.written = self.extracted = 0

    def declare(self, name: str, size: int) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveTooLarge(f"the archive has more than {self.limits.max_members} members (--max-members)")
        self.declared += size
        try:
            check_bytes(self.limits.max_bytes, self.declared, UNPACKS_TO)
            check_ratio(self.limits, self.declared, self.archive_size, UNPACKS_TO)
        except LimitExceeded as exc:
            raise ArchiveTooLarge(f"{exc} (declared by the sizes up to member {name!r})") from None

    def extracting(self, name: str) -> None:
        """The second pass may not find more than the first declared (it reads the same bytes)."""
        self.extracted += 1
        if self.extracted > self.members:
            raise ArchiveError(f"archive member {name!r} was not among the members checked before unpacking")

    def wrote(self, count: int) -> None:
        self.written += count
        try:
            check_bytes(self.limits.max_bytes, self.written, UNPACKS_TO)
            check_ratio(self.limits, self.written, self.raw.tell(), UNPACKS_TO)
        except LimitExceeded as exc:
            raise ArchiveTooLarge(str(exc)) from None

    def copy(self, source: IO[bytes], out: IO[bytes]) -> None:
        while chunk := source.read(_CHUNK):
            self.wrote(len(chunk))  # before the write: the cap is never passed, not even by a chunk
            out.write(chunk)


def is_archive(path: Path) -> bool:
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def unpack(archive: Path, dest: Path, limits: DownloadLimits | None = None) -> None:
    """Unpack a .tar(.gz) or .zip into dest; members that would land outside dest, or break a cap,
    are refused before they are written."""
    limits = limits or DownloadLimits()
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with open(archive, "rb") as raw:
            budget = _Budget(limits, os.fstat(raw.fileno()).st_size, raw)
            if tarfile.is_tarfile(archive):
                # Two sequential passes, each on its own handle: every header checked (stream
                # mode skips data fastest), then the members written in order (no seek back, which
                # would decompress a .tar.gz again from its start).
                with open(archive, "rb") as scan, tarfile.open(fileobj=scan, mode="r|*") as headers:
                    _declare_tar_members(headers, budget)
                with tarfile.open(fileobj=raw, mode="r:*") as tar:
                    for member in tar:
                        budget.extracting(member.name)
                        _extract_tar_member(tar, member, root, budget)
                _check_links_stay_inside(root)
            elif zipfile.is_zipfile(archive):
                with zipfile.ZipFile(raw) as zf:
                    _unpack_zip(zf, root, budget)
            else:
                raise ArchiveError("not a .tar, .tar.gz or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        # A download cut short reads as a truncated archive: say so, not "ReadError".
        raise ArchiveError(f"corrupt or truncated archive: {exc}") from exc


def _declare_tar_members(tar: tarfile.TarFile, budget: _Budget) -> None:
    """Every header read and checked before anything is written (for a .tar.gz that is one more
    pass of decompression, bounded by the caps: the scan stops at the first header past them).
    member.size is what extraction writes: a GNU sparse member's expanded size, holes included;
    a hard link is written as a copy of its target, so it counts that file's size again."""
    sizes: dict[str, int] = {}
    for member in tar:
        size = member.size if member.isfile() else 0
        if member.islnk():
            size = sizes.get(member.linkname.removeprefix("./"), 0)
        budget.declare(member.name, size)
        sizes[member.name.removeprefix("./")] = size


def _unpack_zip(zf: zipfile.ZipFile, root: Path, budget: _Budget) -> None:
    """The central directory declares every size: all of them are checked before one byte is
    written. zipfile stops each member at its declared size, and the budget counts what it reads."""
    infos = zf.infolist()
    for info in infos:
        budget.declare(info.filename, info.file_size)
    for info in infos:
        target = _target(root, info.filename)
        if target is None:
            continue
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove(target)
        with zf.open(info) as source, open(target, "xb") as out:  # zipfile never creates links
            budget.copy(source, out)


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


def _extract_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, budget: _Budget) -> None:
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
        with open(source, "rb") as src, open(target, "xb") as out:
            budget.copy(src, out)
    elif member.isfile():
        _remove(target)
        extracted = tar.extractfile(member)
        assert extracted is not None  # a regular file always has content
        with extracted, open(target, "xb") as out:
            budget.copy(extracted, out)
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


def check_links_inside_model(model_dir: Path) -> None:
    """Every link under the model directory points inside it. Checked on the directory that
    becomes --dest, before its contents move there: a relative link that stayed inside the unpack
    root (`<name>/saved_model/x -> ../../y`) would climb out of --dest after the move."""
    root = model_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            real = Path(os.path.realpath(path))
            if path.is_symlink() and real != root and root not in real.parents:
                raise ArchiveError(f"unsafe link refused: {str(path.relative_to(root))!r} points outside the model "
                                   f"directory ({os.readlink(path)!r})")


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
