"""How much disk a download may take: the one owner of the downloader's caps.

The model volume (an emptyDir with a sizeLimit, builders.py) holds the archive and what it unpacks
to at the same time, so each may take half of it: the builders pass `sizeLimit / 2` as
--max-bytes. Every cap is checked before the bytes are written: the sizes an archive declares
(tar headers, counted at their expanded size for GNU sparse members; zip's central directory)
and the bytes as they stream out.

The compression ratio: a real SavedModel's float weights compress about 1-2x and its graph
3-5x; text (pipeline.config, label maps) up to 10x. A bomb is zeros or holes: 1000x for
deflate, unbounded for a sparse tar. MAX_RATIO = 100 leaves a real model a 10x margin and still
makes a bomb pay 1 byte on the wire for every 100 it would write. Below RATIO_FLOOR of expanded
bytes the ratio is not judged: a small archive of text files may legitimately exceed it (a tar
of tiny files is mostly headers and padding), and 32 MiB harms no volume.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30
MAX_RATIO = 100
RATIO_FLOOR = 32 * MiB
# Half of the default 4Gi model volume (models.StorageSettings in the operator).
DEFAULT_MAX_BYTES = 2 * GiB
# A Zoo export has under ten files; even a SavedModel with assets has hundreds, not thousands.
# Counted, not derived from the volume's size: members cost inodes and time, not bytes.
DEFAULT_MAX_MEMBERS = 10_000
MAX_BYTES_ENV = "DETECTOR_DOWNLOAD_MAX_BYTES"
MAX_MEMBERS_ENV = "DETECTOR_DOWNLOAD_MAX_MEMBERS"


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = DEFAULT_MAX_BYTES  # fetched, and unpacked: each
    max_members: int = DEFAULT_MAX_MEMBERS
    max_ratio: int = MAX_RATIO
    ratio_floor: int = RATIO_FLOOR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DownloadLimits:
        return cls(max_bytes=int(environ.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES),
                   max_members=int(environ.get(MAX_MEMBERS_ENV) or DEFAULT_MAX_MEMBERS))


class LimitExceeded(Exception):
    """A download or an archive would take more than its caps allow."""


def check_ratio(limits: DownloadLimits, expanded: int, compressed: int, what: str) -> None:
    if expanded > limits.ratio_floor and expanded > limits.max_ratio * max(compressed, 1):
        raise LimitExceeded(
            f"{what} {expanded} bytes from {compressed} compressed: a compression ratio above "
            f"{limits.max_ratio}:1 is an archive bomb, not a model")


def check_bytes(max_bytes: int, total: int, what: str) -> None:
    if total > max_bytes:
        raise LimitExceeded(f"{what} more than {max_bytes} bytes (--max-bytes, {MAX_BYTES_ENV})")
