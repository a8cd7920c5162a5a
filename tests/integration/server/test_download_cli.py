"""`python -m inference_server.download`, the init container: what it leaves behind and how it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from inference_server import download, labels
from tests.support.images import encode, picture
from tests.support.object_stores import gcs_emulator, moto_s3, s3_client


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inference_server.download", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


def test_zoo_tarball_and_label_map_land_where_the_server_expects_them(zoo_tarball, tmp_path):
    (tmp_path / "labels.json").write_text('{"1": "person"}')
    done = run_cli("--model-uri", zoo_tarball.as_uri(), "--dest", str(tmp_path / "model"),
                   "--label-map", str(tmp_path / "labels.json"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model" / "saved_model.pb").is_file() and (tmp_path / "model" / "variables").is_dir()
    assert (tmp_path / "model" / labels.DOWNLOADED).read_text() == '{"1": "person"}'


def test_the_pod_flow_init_container_then_server_uses_the_downloaded_label_map(zoo_tarball, tmp_path, server_factory):
    (tmp_path / "labels.pbtxt").write_text('item { id: 1 display_name: "walker" }\n'
                                           'item { id: 3 display_name: "wagon" }')
    done = run_cli("--model-uri", zoo_tarball.as_uri(), "--dest", str(tmp_path / "model"),
                   "--label-map", (tmp_path / "labels.pbtxt").as_uri())
    assert done.returncode == 0, done.stderr
    server = server_factory(str(tmp_path / "model")).wait_ready()  # no --label-map: found beside the model
    found = httpx.post(f"{server.url}/v1/models/detector:detect?threshold=0", content=encode(picture()),
                       headers={"content-type": "image/png"}, timeout=30).json()["detections"]
    assert {"walker", "wagon"} & {d["label"] for d in found}
    assert "person" not in {d["label"] for d in found}


def test_savedmodel_directory_under_an_s3_prefix(zoo_model_dir, tmp_path):
    with moto_s3() as env:
        s3 = s3_client(env)
        s3.create_bucket(Bucket="models")
        for f in zoo_model_dir.rglob("*"):
            if f.is_file():
                s3.upload_file(str(f), "models", f"plain/v1/{f.relative_to(zoo_model_dir)}")
        done = run_cli("--model-uri", "s3://models/plain/v1", "--dest", str(tmp_path / "model"), env=env)
        missing = run_cli("--model-uri", "s3://models/plain/v2", "--dest", str(tmp_path / "other"), env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model" / "saved_model.pb").read_bytes() == (zoo_model_dir / "saved_model.pb").read_bytes()
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_gcs_missing_bucket_and_missing_object_are_reported(tmp_path):
    with gcs_emulator("models") as env:
        no_bucket = run_cli("--model-uri", "gs://nope/m.tar.gz", "--dest", str(tmp_path / "a"), env=env)
        no_object = run_cli("--model-uri", "gs://models/m.tar.gz", "--dest", str(tmp_path / "b"), env=env)
    assert no_bucket.returncode == 1 and "gs://nope/m.tar.gz not found" in no_bucket.stderr
    assert no_object.returncode == 1 and "not found: no object or prefix 'm.tar.gz'" in no_object.stderr


def test_unreachable_s3_endpoint_is_one_line(tmp_path):
    from localprocs import free_port

    env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "s3cr3t-key", "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    done = run_cli("--model-uri", "s3://models/m.tar.gz", "--dest", str(tmp_path / "m"), env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3://models/m.tar.gz" in lines[0] and "Could not connect" in lines[0]
    assert "s3cr3t-key" not in done.stderr


@pytest.mark.parametrize("uri_suffix,expected", [
    ("missing.tar.gz", "not found: HTTP 404"),
    ("junk.bin", "neither a SavedModel directory nor a .tar.gz/.tar/.zip archive"),
    ("empty.tar.gz", "no saved_model.pb inside"),
    ("private.tar.gz", "access denied: HTTP 403"),
])
def test_failures_exit_1_with_one_actionable_line(tmp_path, file_server, uri_suffix, expected):
    import tarfile

    (tmp_path / "junk.bin").write_bytes(b"not a model")
    with tarfile.open(tmp_path / "empty.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "junk.bin", arcname="model/readme.txt")
    server = file_server({"junk.bin": tmp_path / "junk.bin", "empty.tar.gz": tmp_path / "empty.tar.gz"},
                         forbidden={"private.tar.gz"})
    done = run_cli("--model-uri", f"{server.url}/{uri_suffix}", "--dest", str(tmp_path / "model"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("model download failed:") and expected in lines[0]


def test_failure_reason_is_written_to_the_termination_log(tmp_path, capsys):
    termination_log = tmp_path / "termination-log"
    termination_log.touch()  # Kubernetes creates the file; absent means "not in a pod"
    code = download.main(["--model-uri", str(tmp_path / "nope"), "--dest", str(tmp_path / "m")], termination_log)
    assert code == 1
    line = capsys.readouterr().err.strip()
    assert termination_log.read_text().strip() == line and "does not exist" in line


def test_no_termination_log_outside_a_pod(tmp_path):
    absent = tmp_path / "termination-log"
    assert download.main(["--model-uri", str(tmp_path / "nope"), "--dest", str(tmp_path / "m")], absent) == 1
    assert not absent.exists()


def test_secrets_in_the_uri_stay_out_of_the_message(tmp_path, capsys):
    download.main(["--model-uri", "https://user:hunter2@127.0.0.1:9/m.tar.gz?X-Amz-Signature=s3cr3t",
                   "--dest", str(tmp_path / "m")], Path("/nonexistent/termination-log"))
    err = capsys.readouterr().err
    assert "model download failed" in err and "hunter2" not in err and "s3cr3t" not in err


def test_a_download_cut_short_says_so(zoo_tarball, tmp_path, file_server):
    size = zoo_tarball.stat().st_size
    server = file_server({"m.tar.gz": zoo_tarball}, cut_short={"m.tar.gz"})
    done = run_cli("--model-uri", f"{server.url}/m.tar.gz?X-Amz-Signature=secret", "--dest", str(tmp_path / "model"))
    assert done.returncode == 1
    assert f"download cut short: got {size // 2} of {size} bytes" in done.stderr
    assert "EOFError" not in done.stderr and "secret" not in done.stderr
