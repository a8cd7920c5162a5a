"""Every endpoint of a real server process (real TensorFlow, real HTTP on 127.0.0.1)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.images import encode, picture
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

DETECT = f"/v1/models/{MODEL_NAME}:detect"


def test_health_endpoints_and_server_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get(f"/v2/models/{MODEL_NAME}/ready").json() == {"name": MODEL_NAME, "ready": True}
    assert client.get("/v2").json()["name"] == "detector-server"


def test_v2_model_metadata_describes_the_zoo_signature(client):
    meta = client.get(f"/v2/models/{MODEL_NAME}").json()
    assert meta["inputs"] == [{"name": "input_tensor", "datatype": "UINT8", "shape": [-1, -1, -1, 3]}]
    assert {o["name"] for o in meta["outputs"]} == {"detection_boxes", "detection_scores", "detection_classes",
                                                    "num_detections"}


def test_v1_model_status_is_available(client):
    status = client.get(f"/v1/models/{MODEL_NAME}").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"


def test_v1_predict_row_and_columnar_agree(client):
    images = [picture(64, 48, seed=s).tolist() for s in (1, 2)]
    rows = client.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": images})
    cols = client.post(f"/v1/models/{MODEL_NAME}:predict", json={"inputs": {"input_tensor": images}})
    assert rows.status_code == cols.status_code == 200
    predictions, outputs = rows.json()["predictions"], cols.json()["outputs"]
    assert len(predictions) == 2 and np.asarray(outputs["detection_boxes"]).shape == (2, 100, 4)
    for i in range(2):
        np.testing.assert_allclose(predictions[i]["detection_scores"], outputs["detection_scores"][i], atol=1e-5)


def test_v2_infer_returns_flat_fp32_tensors(client):
    image = picture(32, 32, seed=3)
    body = {"id": "req-1", "inputs": [{"name": "input_tensor", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                                       "data": image.reshape(-1).tolist()}]}
    answer = client.post(f"/v2/models/{MODEL_NAME}/infer", json=body).json()
    assert answer["id"] == "req-1" and answer["model_name"] == MODEL_NAME
    by_name = {o["name"]: o for o in answer["outputs"]}
    assert by_name["detection_boxes"]["shape"] == [1, 100, 4] and len(by_name["detection_boxes"]["data"]) == 400
    assert by_name["detection_scores"]["datatype"] == "FP32"


@pytest.mark.parametrize("fmt,media_type", [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_detect_answers_labelled_pixel_boxes_best_first(client, fmt, media_type):
    image = picture(320, 240)
    answer = client.post(DETECT, content=encode(image, fmt), headers={"content-type": media_type})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == MODEL_NAME and body["image"] == {"width": 320, "height": 240}
    found = body["detections"]
    assert found, "the tiny model is biased to find something on ordinary pictures"
    scores = [d["score"] for d in found]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.3  # server default threshold
    for d in found:
        assert 0 <= d["box"]["xmin"] <= d["box"]["xmax"] <= 320 and 0 <= d["box"]["ymin"] <= d["box"]["ymax"] <= 240
        assert d["label"] and isinstance(d["class_id"], int)


def test_detect_accepts_a_multipart_upload_and_a_threshold(client):
    png = encode(picture(320, 240), "PNG")
    everything = client.post(DETECT + "?threshold=0", files={"image": ("p.png", png, "image/png")}).json()
    confident = client.post(DETECT + "?threshold=0.5", files={"image": ("p.png", png, "image/png")}).json()
    assert len(everything["detections"]) > len(confident["detections"])
    assert all(d["score"] >= 0.5 for d in confident["detections"])
    assert confident["detections"] == everything["detections"][: len(confident["detections"])]


def test_detect_uses_coco_labels_by_default(client):
    found = client.post(DETECT + "?threshold=0", content=encode(picture(), "PNG"),
                        headers={"content-type": "image/png"}).json()["detections"]
    labels = {d["class_id"]: d["label"] for d in found if d["class_id"] in (1, 3)}
    assert {1: "person", 3: "car"}.items() >= labels.items()
    assert any(d["class_id"] in (1, 3) for d in found)


def test_detect_can_answer_the_picture_with_boxes_drawn(client):
    image = picture(320, 240)
    answer = client.post(DETECT, content=encode(image, "PNG"),
                         headers={"content-type": "image/png", "accept": "image/png"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    drawn = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"))
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)  # boxes changed pixels


def test_web_page_names_the_model_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert MODEL_NAME in page.text and "{{MODEL_NAME}}" not in page.text
    assert client.get("/static/app.js").status_code == 200  # the web engineer's script
    assert client.get("/static/does-not-exist.js").status_code == 404


def test_metrics_count_requests_batches_and_load_time(client):
    client.post(DETECT, content=encode(picture(), "PNG"), headers={"content-type": "image/png"})
    client.post(DETECT, content=b"junk", headers={"content-type": "image/png"})
    text = client.get("/metrics").text
    assert 'detector_requests_total{code="200",endpoint="/v1/models/{name}:detect",method="POST"}' in text
    assert 'detector_requests_total{code="400",endpoint="/v1/models/{name}:detect",method="POST"}' in text
    assert "detector_batch_size_count" in text and "detector_inference_seconds_bucket" in text
    load = [line for line in text.splitlines() if line.startswith("detector_model_load_seconds ")]
    assert load and float(load[0].split()[1]) > 0
