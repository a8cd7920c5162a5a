"""storage.download on local files: archives, layouts, unsafe members, the already-downloaded marker."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from inference_server import storage


def fake_saved_model(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"pb")
    (root / "variables" / "variables.index").write_bytes(b"idx")
    return root


def zoo_tar(tmp_path: Path, name: str = "ssd_tiny", suffix: str = ".tar.gz") -> Path:
    fake_saved_model(tmp_path / "src" / name / "saved_model")
    (tmp_path / "src" / name / "pipeline.config").write_text("model {}")
    path = tmp_path / f"{name}{suffix}"
    with tarfile.open(path, "w:gz" if suffix.endswith("gz") else "w") as tar:
        tar.add(tmp_path / "src" / name, arcname=name)
    return path


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_zoo_tarball_unpacks_to_a_savedmodel_at_dest(tmp_path, suffix):
    dest = storage.download(str(zoo_tar(tmp_path, suffix=suffix)), tmp_path / "dest")
    assert dest == tmp_path / "dest"
    assert (dest / "saved_model.pb").read_bytes() == b"pb" and (dest / "variables" / "variables.index").is_file()


def test_zip_and_file_uri_work_too(tmp_path):
    fake_saved_model(tmp_path / "m" / "saved_model")
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (tmp_path / "m").rglob("*"):
            zf.write(f, f.relative_to(tmp_path))
    dest = storage.download(archive.as_uri(), tmp_path / "dest")
    assert (dest / "saved_model.pb").is_file()


def test_plain_savedmodel_directory_is_used_in_place(tmp_path):
    model = fake_saved_model(tmp_path / "model")
    assert storage.download(str(model), tmp_path / "dest") == model
    assert storage.download(f"file://{tmp_path}", tmp_path / "dest") == model  # found below the given dir
    assert not (tmp_path / "dest").exists()


def test_a_download_already_in_dest_is_not_fetched_again(tmp_path, monkeypatch):
    tarball = zoo_tar(tmp_path).read_bytes()
    calls = []

    def fetch(uri: str, staging: Path, max_bytes: int) -> Path:
        calls.append(uri)
        (staging / "m.tar.gz").write_bytes(tarball)
        return staging / "m.tar.gz"

    monkeypatch.setitem(storage.FETCHERS, "https", fetch)
    for _ in range(2):
        assert (storage.download("https://example.invalid/m.tar.gz", tmp_path / "dest") / "saved_model.pb").is_file()
    assert len(calls) == 1
    storage.download("https://example.invalid/other.tar.gz", tmp_path / "dest")  # a different URI refetches
    assert len(calls) == 2


def test_path_traversal_in_a_tarball_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(storage.NotAModel, match="unsafe"):
        storage.download(str(evil), tmp_path / "a" / "dest")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_path_traversal_in_a_zip_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escaped.txt", "owned")
    with pytest.raises(storage.NotAModel, match="unsafe"):
        storage.download(str(evil), tmp_path / "a" / "dest")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_not_an_archive_and_no_savedmodel_inside_are_clear_errors(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"junk")
    with pytest.raises(storage.NotAModel, match="neither a SavedModel directory nor"):
        storage.download(str(tmp_path / "model.bin"), tmp_path / "dest")
    (tmp_path / "empty").mkdir()
    with pytest.raises(storage.NotAModel, match=r"no saved_model\.pb"):
        storage.download(str(tmp_path / "empty"), tmp_path / "dest")


def test_missing_path_and_unknown_scheme_are_clear_errors(tmp_path):
    with pytest.raises(storage.ModelNotFound, match="does not exist"):
        storage.download(str(tmp_path / "nope"), tmp_path / "dest")
    with pytest.raises(storage.StorageError, match="unsupported URI scheme 'ftp'"):
        storage.download("ftp://host/model.tar.gz", tmp_path / "dest")


def test_credentials_and_signatures_never_reach_the_logs():
    assert storage.redact("https://user:secret@host:8443/m.tar.gz?X-Amz-Signature=abc") == "https://host:8443/m.tar.gz"
