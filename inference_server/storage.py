"""`download(uri, dest)`: bring a model from wherever it lives to a local SavedModel directory.

A table maps the URI scheme to a fetcher (remote.py); archives are unpacked safely and the
SavedModel found inside (archives.py), within the caps of download_limits.py. Local paths are
used in place, never copied. The marker left beside a download holds a digest of the URI, never
the URI: a pre-signed URL's signature must not sit on a volume other containers read.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import archives, remote
from .download_limits import DownloadLimits
from .storage_errors import AccessDenied, ModelNotFound, NotAModel, StorageError, TooLarge, redact

__all__ = ["AccessDenied", "ModelNotFound", "NotAModel", "StorageError", "TooLarge", "download", "fetch_file",
           "redact"]
log = logging.getLogger(__name__)

MARKER = ".detector-download"
# A label map is a few KB; a COCO-sized one with display names is ~5 KB.
LABEL_MAP_MAX_BYTES = 16 << 20
Fetcher = Callable[[str, Path, int], Path]

FETCHERS: dict[str, Fetcher] = {
    "http": remote.fetch_http,
    "https": remote.fetch_http,
    "s3": remote.fetch_s3,
    "gs": remote.fetch_gs,
}


def local_path(uri: str) -> Path | None:
    """The filesystem path for file:// URIs and plain paths; None for remote schemes."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in FETCHERS:
        return None
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter either
        raise StorageError(f"unsupported URI scheme {parsed.scheme!r}: use gs://, s3://, http(s)://, file:// or a path")
    return Path(uri)


def download(uri: str, dest: Path, limits: DownloadLimits | None = None) -> Path:
    """Return a directory holding saved_model.pb. Remote models end up at dest itself."""
    limits = limits or DownloadLimits()
    dest = Path(dest)
    path = local_path(uri)
    if path is not None:
        if not path.exists():
            raise ModelNotFound(f"{path} does not exist")
        if path.is_dir():
            return _saved_model_in(path, uri)
    if _already_downloaded(dest, uri):
        log.info("model %s already in %s", redact(uri), dest)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    # Stage inside dest: in the pod only dest (an emptyDir) is writable, not its parent.
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        staging = Path(tmp)
        fetched = path if path is not None else _fetch(uri, staging, limits.max_bytes)
        if fetched.is_file():
            if not archives.is_archive(fetched):
                raise NotAModel(f"{redact(uri)} is neither a SavedModel directory nor a .tar.gz/.tar/.zip archive")
            try:
                archives.unpack(fetched, staging / "unpacked", limits)
            except archives.ArchiveTooLarge as exc:
                raise TooLarge(f"{redact(uri)}: {exc}") from None
            except archives.ArchiveError as exc:
                raise NotAModel(f"{redact(uri)}: {exc}") from None
            if path is None:  # our download, not the user's file: free the archive's half of the volume
                fetched.unlink()
            fetched = staging / "unpacked"
        model = _saved_model_in(fetched, uri)
        try:
            # Links are checked against the directory that becomes dest, before the move: the
            # unpack root is larger, so a link valid there can climb out of dest after it.
            archives.check_links_inside_model(model)
        except archives.ArchiveError as exc:
            raise NotAModel(f"{redact(uri)}: {exc}") from None
        _replace_contents(dest, model)
    (dest / MARKER).write_text(_digest(uri))
    log.info("model %s downloaded to %s", redact(uri), dest)
    return dest


def fetch_file(uri: str, dest: Path) -> Path:
    """A single small file (a label map): local paths are read in place, remote ones copied to dest."""
    path = local_path(uri)
    if path is not None:
        if not path.is_file():
            raise ModelNotFound(f"{path} does not exist or is not a file")
        return path
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        fetched = _fetch(uri, Path(tmp), LABEL_MAP_MAX_BYTES)
        if not fetched.is_file():
            raise StorageError(f"{redact(uri)} is a prefix, not a file")
        shutil.move(fetched, dest)
    return dest


def _fetch(uri: str, staging: Path, max_bytes: int) -> Path:
    return FETCHERS[urlparse(uri).scheme](uri, staging, max_bytes)


def _digest(uri: str) -> str:
    return "sha256:" + hashlib.sha256(uri.encode()).hexdigest()


def _saved_model_in(root: Path, uri: str) -> Path:
    try:
        return archives.find_saved_model(root)
    except archives.ArchiveError as exc:
        raise NotAModel(f"{redact(uri)}: {exc}") from exc


def _already_downloaded(dest: Path, uri: str) -> bool:
    marker = dest / MARKER
    return marker.is_file() and marker.read_text() == _digest(uri) and (dest / "saved_model.pb").is_file()


def _replace_contents(dest: Path, model: Path) -> None:
    """dest may be a mount point (an emptyDir): empty it rather than replace it."""
    for child in dest.iterdir():
        if child.name.startswith(".fetch-"):
            continue
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for child in model.iterdir():
        shutil.move(str(child), dest / child.name)
