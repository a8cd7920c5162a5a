"""archives.unpack: what a tarball may put in dest, and what it is refused, on every Python.

The same rules hold on Debian bookworm's 3.11.2 (no tarfile extraction filters): the server image
on the stand-in base unpacks and refuses archives with the same code (tests/integration/images).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from inference_server import archives


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    return info, data


def tarball(path: Path, *members: tuple) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def test_files_directories_and_links_inside_dest_unpack(tmp_path):
    archive = tarball(
        tmp_path / "ok.tar.gz",
        member("./", tarfile.DIRTYPE),
        member("m/saved_model", tarfile.DIRTYPE),
        member("m/saved_model/saved_model.pb", data=b"pb"),
        member("m/saved_model/variables/variables.index", data=b"idx"),
        member("m/model.pb", tarfile.SYMTYPE, link="saved_model/saved_model.pb"),
        member("m/copy.index", tarfile.LNKTYPE, link="m/saved_model/variables/variables.index"),
    )
    dest = tmp_path / "dest"
    archives.unpack(archive, dest)
    assert (dest / "m/model.pb").is_symlink() and (dest / "m/model.pb").read_bytes() == b"pb"
    assert not (dest / "m/copy.index").is_symlink() and (dest / "m/copy.index").read_bytes() == b"idx"
    assert archives.find_saved_model(dest) == dest / "m/saved_model"


def test_archive_modes_and_owners_are_not_applied(tmp_path):
    info, data = member("setuid-tool", data=b"#!/bin/sh\n")
    info.mode, info.uid, info.gid = 0o6777, 0, 0
    archives.unpack(tarball(tmp_path / "modes.tar.gz", (info, data)), tmp_path / "dest")
    mode = (tmp_path / "dest/setuid-tool").stat().st_mode
    assert not mode & 0o7000 and not mode & 0o022


def test_a_later_member_replaces_an_earlier_link_instead_of_writing_through_it(tmp_path):
    archive = tarball(
        tmp_path / "relink.tar.gz",
        member("target.txt", data=b"original"),
        member("alias", tarfile.SYMTYPE, link="target.txt"),
        member("alias", data=b"replacement"),
    )
    archives.unpack(archive, tmp_path / "dest")
    assert (tmp_path / "dest/target.txt").read_bytes() == b"original"
    assert not (tmp_path / "dest/alias").is_symlink() and (tmp_path / "dest/alias").read_bytes() == b"replacement"


UNSAFE = {
    "absolute path": ([member("/tmp/escaped.txt", data=b"x")], "absolute path"),
    "dot-dot": ([member("m/../../escaped.txt", data=b"x")], "'..' component"),
    "symlink to an absolute path": ([member("m/link", tarfile.SYMTYPE, link="/etc/passwd")], "absolute path"),
    "symlink climbing out": ([member("m/link", tarfile.SYMTYPE, link="../../outside")], "outside"),
    "write through a link bent out later": ([
        member("a", tarfile.SYMTYPE, link="b/.."),  # dest itself while b does not exist
        member("b", tarfile.SYMTYPE, link="."),  # now a -> dest/./.. : dest's parent
        member("a/escaped.txt", data=b"x"),
    ], "outside"),
    "link bent out later, nothing written through it": ([
        member("a", tarfile.SYMTYPE, link="b/.."),
        member("b", tarfile.SYMTYPE, link="."),
    ], "outside"),
    "hard link to outside": ([member("m/hard", tarfile.LNKTYPE, link="../escaped.txt")], "'..' component"),
    "hard link to something not unpacked": ([member("m/hard", tarfile.LNKTYPE, link="etc/passwd")], "not a file"),
    "character device": ([member("m/null", tarfile.CHRTYPE)], "device file"),
    "FIFO": ([member("m/pipe", tarfile.FIFOTYPE)], "FIFO"),
}


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe_members_are_refused_and_nothing_lands_outside(tmp_path, case):
    members, reason = UNSAFE[case]
    archive = tarball(tmp_path / "evil.tar.gz", *members)
    dest = tmp_path / "a" / "dest"
    with pytest.raises(archives.ArchiveError, match=f"unsafe archive member refused: .*{reason}"):
        archives.unpack(archive, dest)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_truncated_download_is_reported_as_a_truncated_archive(tmp_path):
    whole = tarball(tmp_path / "whole.tar.gz", member("m/saved_model.pb", data=bytes(range(256)) * 4000))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(archives.ArchiveError, match="corrupt or truncated archive"):
        archives.unpack(cut, tmp_path / "dest")
