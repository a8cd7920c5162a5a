"""JSON pixel bodies big enough for the numeric fast path, over real HTTP to a real server: every
layout the fast path reads gives the model the same pixels as a lossless PNG does."""

from __future__ import annotations

import json

import numpy as np

from tests.support.images import encode, picture
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

PREDICT = f"/v1/models/{MODEL_NAME}:predict"
INFER = f"/v2/models/{MODEL_NAME}/infer"


def v2_body(image: np.ndarray, nested: bool) -> dict:
    data = image[None].tolist() if nested else image.reshape(-1).tolist()
    return {"inputs": [{"name": "input_tensor", "shape": [1, *image.shape], "datatype": "UINT8", "data": data}]}


def detection_scores(answer: dict) -> list[float]:
    if "predictions" in answer:  # v1 row format
        return answer["predictions"][0]["detection_scores"]
    if isinstance(answer["outputs"], dict):  # v1 columnar format
        return answer["outputs"]["detection_scores"][0]
    return next(o["data"] for o in answer["outputs"] if o["name"] == "detection_scores")  # v2


def test_json_pixels_in_every_layout_get_the_same_scores_as_the_png(client):
    image = picture(96, 64, seed=7)
    png_scores = [d["score"] for d in client.post(
        f"/v1/models/{MODEL_NAME}:detect?threshold=0", content=encode(image, "PNG"),
        headers={"content-type": "image/png"}).json()["detections"]][:5]
    assert png_scores
    pixels = image.tolist()
    bodies = {
        PREDICT: [
            json.dumps({"instances": [pixels]}, separators=(",", ":")),
            json.dumps({"instances": [{"input_tensor": pixels}]}, indent=2),
            json.dumps({"inputs": {"input_tensor": [pixels]}}),
        ],
        INFER: [json.dumps(v2_body(image, nested=False)), json.dumps(v2_body(image, nested=True), indent=1)],
    }
    for path, variants in bodies.items():
        for body in variants:
            answer = client.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 200, answer.text
            scores = detection_scores(answer.json())
            np.testing.assert_allclose(sorted(scores, reverse=True)[: len(png_scores)], png_scores, atol=1e-3)


def test_a_big_ragged_body_is_a_400_with_the_exact_reason(client):
    rows = picture(64, 48, seed=8).tolist()
    rows[5] = rows[5][:-1]  # one pixel short in one row
    answer = client.post(PREDICT, content=json.dumps({"instances": [rows]}),
                         headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "instances: not a rectangular array of numbers" in answer.json()["error"]


def test_a_big_body_with_a_pixel_over_255_is_a_400(client):
    image = picture(64, 48, seed=9).reshape(-1).tolist()
    image[100] = 256
    body = {"inputs": [{"name": "input_tensor", "shape": [1, 48, 64, 3], "datatype": "UINT8", "data": image}]}
    answer = client.post(INFER, json=body)
    assert answer.status_code == 400 and "within 0-255" in answer.json()["error"]
