"""Bad input gets a clear 4xx with {"error": ...}, never a 500."""

from __future__ import annotations

import pytest

from tests.support.images import encode, picture
from tests.support.server_process import SHARED_MAX_BODY
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

DETECT = f"/v1/models/{MODEL_NAME}:detect"


def assert_error(response, code: int, *words: str) -> None:
    assert response.status_code == code, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message


def test_undecodable_image_is_400(client):
    assert_error(client.post(DETECT, content=b"\x89PNG not really", headers={"content-type": "image/png"}),
                 400, "cannot decode")
    assert_error(client.post(DETECT, content=b"", headers={"content-type": "image/jpeg"}), 400, "empty")


def test_multipart_without_an_image_field_is_400(client):
    assert_error(client.post(DETECT, files={"photo": ("p.png", encode(picture(8, 8)), "image/png")}), 400, "'image'")


def test_bad_threshold_is_400(client):
    png = encode(picture(8, 8))
    for bad in ("2", "abc", "-0.1"):
        assert_error(client.post(f"{DETECT}?threshold={bad}", content=png, headers={"content-type": "image/png"}),
                     400, "threshold")


def test_wrong_tensor_shape_or_datatype_is_400(client):
    assert_error(client.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": [[[1, 2, 3]]]}), 400, "shape")
    assert_error(client.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": [[[[0.5, 1, 2]]]]}), 400,
                 "integers")
    v2 = {"inputs": [{"name": "input_tensor", "shape": [1, 1, 1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    assert_error(client.post(f"/v2/models/{MODEL_NAME}/infer", json=v2), 400, "UINT8")
    v2["inputs"][0].update(datatype="UINT8", shape=[1, 2, 2, 3])
    assert_error(client.post(f"/v2/models/{MODEL_NAME}/infer", json=v2), 400, "needs 12 values")


def test_malformed_json_is_400_not_422_or_500(client):
    response = client.post(f"/v2/models/{MODEL_NAME}/infer", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid request")
    assert_error(client.post(f"/v2/models/{MODEL_NAME}/infer", json={"inputs": "nope"}), 400)


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/models/other"), ("POST", "/v1/models/other:predict"), ("POST", "/v1/models/other:detect"),
    ("GET", "/v2/models/other"), ("GET", "/v2/models/other/ready"), ("POST", "/v2/models/other/infer"),
])
def test_unknown_model_is_404(client, method, path):
    body = {"instances": [[[[1, 2, 3]]]]} if path.endswith("predict") else {"inputs": []}
    kwargs = {"content": encode(picture(8, 8)), "headers": {"content-type": "image/png"}} if "detect" in path else (
        {"json": body} if method == "POST" else {})
    assert_error(client.request(method, path, **kwargs), 404, "'other' not found")


def test_body_over_the_limit_is_413_before_it_is_read(client):
    big = b"\0" * (SHARED_MAX_BODY + 1)
    assert_error(client.post(DETECT, content=big, headers={"content-type": "image/png"}), 413, "--max-body-bytes")


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(SHARED_MAX_BODY // 65536 + 2):
            yield b"\0" * 65536

    assert_error(client.post(DETECT, content=chunks(), headers={"content-type": "image/png"}), 413)


def test_unsupported_media_type_is_415(client):
    assert_error(client.post(DETECT, content=b"GIF89a", headers={"content-type": "image/gif"}), 415, "image/jpeg")
    assert_error(client.post(DETECT, content=b"hello", headers={"content-type": "text/plain"}), 415)


def test_unknown_path_is_404_with_an_error_body(client):
    assert_error(client.get("/v3/nothing"), 404)
