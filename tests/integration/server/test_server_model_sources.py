"""The server fetches its model from HTTP, S3 (moto) and GCS (emulator), and readiness waits for it."""

from __future__ import annotations

import httpx
import pytest

from tests.support.images import encode, picture
from tests.support.object_stores import gcs_emulator, gcs_upload, moto_s3, s3_client

PNG = {"content-type": "image/png"}


@pytest.fixture
def gated_http(file_server, zoo_tarball):
    label_map = "".join(f'item {{ id: {i} name: "n{i}" display_name: "thing-{i}" }}\n' for i in range(1, 91))
    return file_server({"tiny_ssd.tar.gz": zoo_tarball, "label_map.pbtxt": label_map}, gated={"tiny_ssd.tar.gz"})


def test_http_model_ready_only_after_download_load_and_warm_up(server_factory, gated_http):
    server = server_factory(f"{gated_http.url}/tiny_ssd.tar.gz", "--label-map", f"{gated_http.url}/label_map.pbtxt")
    server.wait_status("/v2/health/live", 200)
    # The tarball is held back: the process is alive, but neither ready nor serving.
    with httpx.Client(base_url=server.url, timeout=10) as c:
        assert c.get("/v2/health/ready").status_code == 503
        assert c.get("/v2/health/ready").json()["error"].endswith("is loading; retry shortly")
        assert c.get("/v1/models/detector").json()["model_version_status"][0]["state"] == "LOADING"
        assert c.post("/v1/models/detector:detect", content=encode(picture()), headers=PNG).status_code == 503
        gated_http.release()
        server.wait_ready()
        found = c.post("/v1/models/detector:detect", content=encode(picture()), headers=PNG).json()["detections"]
    assert found and all(d["label"] == f"thing-{d['class_id']}" for d in found)  # the pbtxt label map


def test_s3_model_and_json_label_map_from_moto(server_factory, zoo_tarball):
    with moto_s3() as env:
        s3 = s3_client(env)
        s3.create_bucket(Bucket="models")
        s3.upload_file(str(zoo_tarball), "models", "zoo/tiny_ssd.tar.gz")
        s3.put_object(Bucket="models", Key="zoo/labels.json", Body=b'{"1": "human", "3": "auto"}')
        server = server_factory("s3://models/zoo/tiny_ssd.tar.gz", "--label-map", "s3://models/zoo/labels.json",
                                env=env).wait_ready()
        found = httpx.post(f"{server.url}/v1/models/detector:detect?threshold=0", content=encode(picture()),
                           headers=PNG, timeout=30).json()["detections"]
    labels = {d["class_id"]: d["label"] for d in found}
    assert labels.get(1, "human") == "human" and labels.get(3, "auto") == "auto"
    assert {"human", "auto"} & set(labels.values())
    assert all(label.startswith("class ") for cid, label in labels.items() if cid not in (1, 3))


def test_gcs_model_from_the_storage_emulator(server_factory, zoo_tarball):
    with gcs_emulator("models") as env:
        gcs_upload(env, "models", "zoo/tiny_ssd.tar.gz", zoo_tarball.read_bytes())
        server = server_factory("gs://models/zoo/tiny_ssd.tar.gz", env=env).wait_ready()
        answer = httpx.post(f"{server.url}/v1/models/detector:detect", content=encode(picture()), headers=PNG,
                            timeout=30)
    assert answer.status_code == 200 and answer.json()["detections"]
