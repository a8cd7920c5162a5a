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


# --- the caps of download_limits.py ---------------------------------------------------------------

from inference_server.download_limits import DownloadLimits, MiB  # noqa: E402

SMALL = DownloadLimits(max_bytes=8 * MiB, max_members=50, max_ratio=100, ratio_floor=1 * MiB)


def written(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())


def test_a_sparse_member_counts_at_its_expanded_size_and_nothing_is_written(tmp_path):
    import subprocess

    (tmp_path / "src").mkdir()
    with open(tmp_path / "src" / "weights", "wb") as f:
        f.write(b"x" * 4096)
        f.truncate(1 << 30)  # 1 GiB, almost all hole
    subprocess.run(["tar", "--sparse", "--format=gnu", "-cf", str(tmp_path / "s.tar"), "-C", str(tmp_path / "src"),
                    "weights"], check=True)
    assert (tmp_path / "s.tar").stat().st_size < 64 * 1024
    with pytest.raises(archives.ArchiveTooLarge, match="unpacks to more than 8388608 bytes"):
        archives.unpack(tmp_path / "s.tar", tmp_path / "out", SMALL)
    assert written(tmp_path / "out") == 0


def test_zip_sizes_from_the_central_directory_are_checked_before_writing(tmp_path):
    import os
    import zipfile

    with zipfile.ZipFile(tmp_path / "z.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", os.urandom(4 * MiB))
        zf.writestr("b.bin", os.urandom(5 * MiB))
    with pytest.raises(archives.ArchiveTooLarge, match="unpacks to more than"):
        archives.unpack(tmp_path / "z.zip", tmp_path / "out", SMALL)
    assert written(tmp_path / "out") == 0  # a.bin alone would have fitted: nothing was written


def test_a_high_compression_ratio_is_refused_above_the_floor_only(tmp_path):
    zeros = tarball(tmp_path / "zeros.tar.gz", member("z.bin", data=bytes(2 * MiB)))
    with pytest.raises(archives.ArchiveTooLarge, match="compression ratio above 100:1"):
        archives.unpack(zeros, tmp_path / "out", SMALL)
    small = tarball(tmp_path / "small.tar.gz", member("z.bin", data=bytes(MiB // 2)))  # below the floor
    archives.unpack(small, tmp_path / "ok", SMALL)
    assert written(tmp_path / "ok") == MiB // 2


def test_incompressible_weights_up_to_the_cap_unpack(tmp_path):
    import os

    weights = tarball(tmp_path / "w.tar.gz", member("m/variables.data", data=os.urandom(7 * MiB)))
    archives.unpack(weights, tmp_path / "out", SMALL)
    assert written(tmp_path / "out") == 7 * MiB


def test_too_many_members_are_refused_before_any_is_written(tmp_path):
    many = tarball(tmp_path / "many.tar.gz", *[member(f"f{i}", data=b"x") for i in range(51)])
    with pytest.raises(archives.ArchiveTooLarge, match="more than 50 members"):
        archives.unpack(many, tmp_path / "out", SMALL)
    assert not any((tmp_path / "out").iterdir())


def test_hard_links_count_as_the_copies_they_become(tmp_path):
    import os

    links = tarball(tmp_path / "links.tar.gz", member("w", data=os.urandom(3 * MiB)),
                    *[member(f"l{i}", tarfile.LNKTYPE, link="w") for i in range(3)])
    with pytest.raises(archives.ArchiveTooLarge, match="unpacks to more than"):
        archives.unpack(links, tmp_path / "out", SMALL)


def test_a_link_that_climbs_out_of_the_model_directory_is_refused(tmp_path):
    zoo = tarball(tmp_path / "zoo.tar.gz", member("ssd/saved_model/saved_model.pb", data=b"pb"),
                  member("ssd/saved_model/label_map.pbtxt", tarfile.SYMTYPE, link="../../etc/passwd"),
                  member("ssd/saved_model/inside", tarfile.SYMTYPE, link="saved_model.pb"))
    archives.unpack(zoo, tmp_path / "out")  # inside the unpack root: unpacking allows it
    with pytest.raises(archives.ArchiveError, match=r"'label_map\.pbtxt' points outside the model directory"):
        archives.check_links_inside_model(tmp_path / "out" / "ssd" / "saved_model")
