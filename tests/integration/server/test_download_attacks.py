"""The downloader against hostile archives and secret-bearing URIs, run exactly as the builders'
init container runs it (tests/support/pods.py: its argv, env and volumes), with the disk it
fills measured while it runs (tests/support/disk_watch.py).

Each attack must end the same way: exit 1, one line naming the reason, no more bytes in the
volumes than the cap the builders derive from the model volume's size, in little time; and no
credential in the termination log, the output or the `.detector-download` marker.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import httpx
import pytest

from inference_server import storage
from tests.support.disk_watch import Watched, run_watched
from tests.support.hostile_archives import GiB, MiB, escaping_link_tar, sparse_tar, zip_bomb
from tests.support.images import encode, picture
from tests.support.object_stores import moto_s3, s3_client, serving
from tests.support.pods import LocalPod, plan, pod_template

# The model volume of these pods: the downloader may hold half of it unpacked (the archive
# itself takes the other half while it is unpacked).
MODEL_VOLUME = "256Mi"
CAP = 128 * MiB
# Far more than any refusal needs; the watch kills the downloader past this.
KILL_ABOVE = 2 * CAP
QUICK = 15.0  # seconds: a refusal reads headers, it does not write GiB


def run_init(pod: LocalPod, *, timeout: float = 60) -> Watched:
    (init,) = pod.pod.init_containers
    argv, env = pod.command(init)
    return run_watched(argv, env=env, cwd=pod.workdir, watch=list(pod.dirs.values()), kill_above=KILL_ABOVE,
                       timeout=timeout)


def make_pod(spec: dict, workdir: Path, secrets: dict[str, dict[str, str]] | None = None) -> LocalPod:
    full = {"storage": {"modelSizeLimit": MODEL_VOLUME}, **spec}
    return LocalPod(plan(pod_template(full, name="cams")), workdir, secrets=secrets)


@pytest.fixture
def www(file_server):
    server = file_server({}, forbidden={"private.tar.gz"}, cut_short={"short.tar.gz"})
    return server.root, server


def refused(done: Watched, reason: str) -> str:
    assert done.killed is None, f"the downloader {done.killed} (peak {done.peak_bytes} bytes): {done.output[-500:]}"
    lines = done.output.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.output[-2000:]
    assert lines[0].startswith("model download failed:") and reason in lines[0], lines[0]
    assert done.peak_bytes <= CAP, f"{done.peak_bytes} bytes written, cap {CAP}"
    assert done.seconds < QUICK, f"{done.seconds:.1f} s"
    return lines[0]


def test_a_sparse_tar_is_refused_by_its_declared_size(zoo_model_dir, www, tmp_path):
    root, server = www
    bomb = sparse_tar(zoo_model_dir, root / "sparse.tar", expanded=10 * GiB)
    assert bomb.stat().st_size < 128 * 1024  # tens of KB on the wire (the tiny model itself is most of it)
    done = run_init(make_pod({"modelUri": f"{server.url}/sparse.tar"}, tmp_path / "pod"))
    refused(done, "unpacks to more than")


def test_a_zip_bomb_is_refused_before_it_fills_the_volume(zoo_model_dir, www, tmp_path):
    root, server = www
    bomb = zip_bomb(zoo_model_dir, root / "bomb.zip", expanded=2 * GiB)
    assert bomb.stat().st_size < 4 * MiB
    done = run_init(make_pod({"modelUri": f"{server.url}/bomb.zip"}, tmp_path / "pod"))
    refused(done, "unpacks to more than")


def test_a_small_bomb_under_the_cap_is_refused_by_its_compression_ratio(zoo_model_dir, www, tmp_path):
    root, server = www
    bomb = zip_bomb(zoo_model_dir, root / "small-bomb.zip", expanded=100 * MiB, members=1)
    assert bomb.stat().st_size < 1 * MiB
    done = run_init(make_pod({"modelUri": f"{server.url}/small-bomb.zip"}, tmp_path / "pod"))
    refused(done, "compression ratio")


def test_too_many_members_are_refused(zoo_model_dir, www, tmp_path):
    root, server = www
    with tarfile.open(root / "many.tar.gz", "w:gz") as tar:
        tar.add(zoo_model_dir, "evil/saved_model")
        for i in range(20_001):
            tar.addfile(tarfile.TarInfo(f"evil/saved_model/assets/{i}"))
    done = run_init(make_pod({"modelUri": f"{server.url}/many.tar.gz"}, tmp_path / "pod"))
    refused(done, "more than 10000 members")


def test_a_link_that_escapes_after_the_move_into_dest_is_refused(zoo_model_dir, www, tmp_path):
    root, server = www
    # In the pod, /models/model/../../etc/passwd is the node image's /etc/passwd; here the pod's
    # volumes sit side by side, so the same climb reaches the tmp volume: a file outside the model.
    escaping_link_tar(zoo_model_dir, root / "link.tar.gz", "../../tmp/outside.txt")
    pod = make_pod({"modelUri": f"{server.url}/link.tar.gz"}, tmp_path / "pod")
    (pod.dirs["tmp"] / "outside.txt").write_text('item { id: 1 display_name: "root:x:0:0" }\n')
    done = run_init(pod)
    refused(done, "points outside the model directory")
    assert not (pod.dirs["model"] / "model" / "saved_model.pb").exists()


def test_a_zoo_model_just_inside_the_limits_downloads_and_serves(zoo_model_dir, www, tmp_path):
    """Real weights (random float32: incompressible, like a real model's) filling most of the cap."""
    root, server = www
    work = tmp_path / "model"
    shutil.copytree(zoo_model_dir, work / "ssd" / "saved_model")
    (work / "ssd" / "saved_model" / "assets").mkdir(exist_ok=True)
    (work / "ssd" / "saved_model" / "assets" / "weights.bin").write_bytes(os.urandom(CAP - 4 * MiB))
    with tarfile.open(root / "big.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(work / "ssd", "ssd")
    # A pre-signed URL, as users should give one: from a Secret (spec.modelUriFrom).
    signed = {"model-url": {"url": f"{server.url}/big.tar.gz?X-Amz-Signature=f00dfeed"}}
    pod = make_pod({"modelUriFrom": {"secretKeyRef": {"name": "model-url", "key": "url"}}}, tmp_path / "pod",
                   secrets=signed)
    done = run_init(pod, timeout=120)
    assert done.returncode == 0 and done.killed is None, done.output[-2000:]
    assert done.peak_bytes <= 2 * CAP  # the archive and its contents, each under the cap, on one volume
    assert "f00dfeed" not in (pod.dirs["model"] / "model" / storage.MARKER).read_text() + done.output
    pod.start()
    try:
        pod.wait_ready(120)
        answer = httpx.post(f"{pod.url('http')}/v1/models/cams:detect?threshold=0", content=encode(picture()),
                            headers={"content-type": "image/png"}, timeout=30)
    finally:
        pod.stop()
    assert answer.status_code == 200 and answer.json()["detections"], answer.text


# --- secrets: swept through every way the downloader can fail ---------------------------------

PASSWORD, SIGNATURE, TOKEN = "PASSWORD123", "5ec7e75167a7", "tok3nS3SS10N"
SECRET_KEY = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY"
SECRETS = (PASSWORD, SIGNATURE, SECRET_KEY, TOKEN)
S3_ENV = {"AWS_ACCESS_KEY_ID": "AKIDSWEEP", "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": TOKEN,
          "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}


def sweep_cases(url: str, closed: str, s3_endpoint: str, moto_endpoint: str) -> dict[str, tuple[dict, dict]]:
    """name -> (spec fields, credentialsSecret content). Every URI carries a secret somewhere."""
    q = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID&X-Amz-Signature={SIGNATURE}"
    g = f"X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={SIGNATURE}"
    host = url.removeprefix("http://")
    return {
        "userinfo-no-port": ({"modelUri": f"http://alice:{PASSWORD}@host/m.tar.gz"}, {}),
        "userinfo-bad-port": ({"modelUri": f"http://alice:{PASSWORD}@{host}x/m.tar.gz"}, {}),
        "space-in-signed-url": ({"modelUri": f"{url}/m tar.gz?{q}"}, {}),
        "control-char-in-signed-url": ({"modelUri": f"{url}/m.tar.gz?{q}\t"}, {}),
        "userinfo-not-found": ({"modelUri": f"http://alice:{PASSWORD}@{host}/missing.tar.gz?{g}"}, {}),
        "not-found-signed": ({"modelUri": f"{url}/missing.tar.gz?{g}"}, {}),
        "forbidden-sig": ({"modelUri": f"{url}/private.tar.gz?sv=2024&sig={SIGNATURE}"}, {}),
        "refused": ({"modelUri": f"http://{closed}/m.tar.gz?{q}"}, {}),
        "too-large-download": ({"modelUri": f"{url}/huge.tar.gz?{q}"}, {}),
        "not-an-archive": ({"modelUri": f"{url}/junk.bin?{q}"}, {}),
        "no-saved-model": ({"modelUri": f"{url}/empty.tar.gz?{q}"}, {}),
        "cut-short": ({"modelUri": f"{url}/short.tar.gz?{q}"}, {}),
        "bomb": ({"modelUri": f"{url}/bomb.tar?{q}"}, {}),
        "escaping-link": ({"modelUri": f"{url}/link.tar.gz?{q}"}, {}),
        # The CRD refuses ftp:// in modelUri; a URI from a Secret reaches the downloader unchecked.
        "unsupported-scheme": ({"modelUriFrom": {"secretKeyRef": {"name": "model-url", "key": "ftp"}}}, {}),
        "label-map-not-found": ({"modelUri": f"{url}/good.tar.gz", "labelMapUri": f"{url}/nope.pbtxt?{q}"}, {}),
        "label-map-malformed": ({"modelUri": f"{url}/good.tar.gz", "labelMapUri": f"{url}/junk.bin?{q}"}, {}),
        "s3-unreachable": ({"modelUri": "s3://models/m.tar.gz", "credentialsSecret": "s3"},
                           {**S3_ENV, "AWS_ENDPOINT_URL_S3": f"http://{s3_endpoint}"}),
        "s3-bad-endpoint-url": ({"modelUri": "s3://models/m.tar.gz", "credentialsSecret": "s3"},
                                {**S3_ENV, "AWS_ENDPOINT_URL_S3": f"http://alice:{PASSWORD}@{s3_endpoint}x"}),
        "s3-missing": ({"modelUri": "s3://models/missing.tar.gz", "credentialsSecret": "s3"},
                       {**S3_ENV, "AWS_ENDPOINT_URL_S3": moto_endpoint}),
        "gcs-bad-credentials-file": ({"modelUri": "gs://models/m.tar.gz", "credentialsSecret": "gcs"},
                                     {"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/" + SECRET_KEY + ".json"}),
        "uri-from-secret": ({"modelUriFrom": {"secretKeyRef": {"name": "model-url", "key": "url"}}}, {}),
        # A Secret key that is not a URI at all (whoever may create a detector names any key):
        # its value must not come back in the termination message, which status copies.
        "secret-not-a-uri": ({"modelUriFrom": {"secretKeyRef": {"name": "model-url", "key": "password"}}}, {}),
    }


@pytest.fixture(scope="module")
def sweep_site(tmp_path_factory, zoo_model_dir):
    root = tmp_path_factory.mktemp("sweep-www")
    (root / "junk.bin").write_bytes(b"not a model")
    with tarfile.open(root / "empty.tar.gz", "w:gz") as tar:
        tar.add(root / "junk.bin", arcname="model/readme.txt")
    sparse_tar(zoo_model_dir, root / "bomb.tar", expanded=1 * GiB)
    escaping_link_tar(zoo_model_dir, root / "link.tar.gz", "../../tmp/outside.txt")
    from tests.support.zoo_model import make_zoo_tarball

    make_zoo_tarball(zoo_model_dir, root / "good.tar.gz")
    shutil.copy(root / "good.tar.gz", root / "short.tar.gz")
    with open(root / "huge.tar.gz", "wb") as f:  # announced by Content-Length: refused before reading
        f.truncate(CAP + 1)
    with serving(root, forbidden={"private.tar.gz"}, cut_short={"short.tar.gz"}) as server, moto_s3() as env:
        s3_client(env).create_bucket(Bucket="models")
        yield server, env["AWS_ENDPOINT_URL_S3"]


CASE_NAMES = list(sweep_cases("http://h:1", "h:2", "h:3", "http://h:4"))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_no_credential_reaches_the_termination_log_the_output_or_the_marker(case, sweep_site, tmp_path):
    from localprocs import free_port

    server, moto_endpoint = sweep_site
    closed = f"127.0.0.1:{free_port()}"
    spec, secret_env = sweep_cases(server.url, closed, f"127.0.0.1:{free_port()}", moto_endpoint)[case]
    secrets = {"s3": secret_env, "gcs": secret_env,
               "model-url": {"url": f"https://{closed}/m.tar.gz?X-Amz-Signature={SIGNATURE}",
                             "ftp": f"ftp://alice:{PASSWORD}@host/m.tar.gz?X-Amz-Signature={SIGNATURE}",
                             "password": f"{PASSWORD}-db"}}
    pod = make_pod(spec, tmp_path / "pod", secrets=secrets)
    done = run_init(pod, timeout=90)
    (init,) = pod.pod.init_containers
    termination = pod.termination_log(init).read_text()
    marker = pod.dirs["model"] / "model" / storage.MARKER
    left = {"output": done.output, "termination log": termination,
            "marker": marker.read_text() if marker.exists() else ""}
    for where, text in left.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{where} holds {leaked}: {text!r}"
    assert done.returncode == 1 and done.killed is None, done.output[-2000:]
    assert termination.strip() == done.output.strip().splitlines()[-1], (termination, done.output)
    # The reason is still there to read: the redacted URI or the failing part, not just "failed".
    assert len(termination.strip()) > len("model download failed: ") + 10, termination
    json.dumps(left)  # plain text
