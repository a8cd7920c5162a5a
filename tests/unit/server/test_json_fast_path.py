"""The numeric fast path for :predict and /infer bodies: the same arrays as the exact json.loads
path whenever it answers, and the exact path's 400 (same words) whenever the body is bad."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference_server.errors import BadInput, status_code
from inference_server.protocol import numeric_json, v1, v2


def images(n: int, h: int = 16, w: int = 16) -> list:
    rng = np.random.default_rng(n * 1000 + h)
    batch = rng.integers(0, 256, (n, h, w, 3))
    batch[0, 0, 0] = [0, 255, 10]  # the edges of the range and a zero-ending number
    return batch.tolist()


def v2_body(batch: list, flat: bool, **dumps: object) -> bytes:
    array = np.asarray(batch)
    data = array.reshape(-1).tolist() if flat else batch
    tensor = {"name": "input_tensor", "shape": list(array.shape), "datatype": "UINT8", "data": data}
    return json.dumps({"id": "r1", "inputs": [tensor]}, **dumps).encode()


SPACINGS = {"default": {}, "compact": {"separators": (",", ":")}, "indented": {"indent": 1}}
V1_BODIES = {
    f"{form}-batch{n}-{spacing}": json.dumps(build(images(n)), **SPACINGS[spacing]).encode()
    for form, build in {
        "row": lambda b: {"instances": b},
        "row-named": lambda b: {"instances": [{"input_tensor": image} for image in b]},
        "columnar": lambda b: {"inputs": b},
        "columnar-named": lambda b: {"signature_name": "serving_default", "inputs": {"input_tensor": b}},
    }.items()
    for n in (1, 3)
    for spacing in SPACINGS
}
V2_BODIES = {
    f"{'flat' if flat else 'nested'}-batch{n}-{spacing}": v2_body(images(n), flat, **SPACINGS[spacing])
    for flat in (True, False) for n in (1, 3) for spacing in SPACINGS
}


def exact_predict(body: bytes) -> tuple[np.ndarray, str]:
    return v1.decode_predict(v1.parse_predict(body))


def exact_infer(body: bytes) -> np.ndarray:
    return v2.decode_infer(v2.parse_infer(body))


@pytest.mark.parametrize("body", V1_BODIES.values(), ids=V1_BODIES.keys())
def test_fast_predict_decodes_the_same_uint8_batch_as_the_exact_path(body):
    assert numeric_json.load(body) is not None  # the fast path really answers this body
    fast, fast_form = v1.read_predict(body)
    exact, exact_form = exact_predict(body)
    assert fast_form == exact_form
    assert fast.dtype == exact.dtype == np.uint8 and fast.shape == exact.shape
    assert fast.tobytes() == exact.tobytes()


@pytest.mark.parametrize("body", V2_BODIES.values(), ids=V2_BODIES.keys())
def test_fast_infer_decodes_the_same_uint8_batch_and_request_as_the_exact_path(body):
    assert numeric_json.load(body) is not None
    request, fast = v2.read_infer(body)
    exact = exact_infer(body)
    assert fast.dtype == exact.dtype == np.uint8 and fast.shape == exact.shape
    assert fast.tobytes() == exact.tobytes()
    assert request.id == "r1" and request.inputs[0].shape == list(exact.shape)


def with_pixel(text: str, replacement: str) -> bytes:
    """A valid 1x16x16x3 `instances` body with its first pixel value's text replaced."""
    body = json.dumps({"instances": images(1)}).replace("[[[[0, ", f"[[[[{replacement}, ", 1)
    assert body != json.dumps({"instances": images(1)})
    return body.encode()


def ragged_rows() -> bytes:
    batch = images(2)
    batch[1] = batch[1][:-1]  # second image one row short
    return json.dumps({"instances": batch}).encode()


def ragged_v2() -> bytes:
    body = json.loads(v2_body(images(1), flat=False))
    body["inputs"][0]["data"][0][3].pop()  # one row one pixel short, the shape still says 16
    return json.dumps(body).encode()


BAD_PREDICT = {
    "ragged-rows": ragged_rows(),
    "out-of-range-256": with_pixel("0", "256"),
    "out-of-range-1000": with_pixel("0", "1000"),
    "negative": with_pixel("0", "-1"),
    "float": with_pixel("0", "0.5"),
    "leading-zero": with_pixel("0", "007"),
    "space-inside-number": with_pixel("0", "1 2"),
    "string": with_pixel("0", '"0"'),
    "trailing-comma": json.dumps({"instances": images(1)}).replace("]]]]", ", ]]]]").encode(),
    "missing-comma": json.dumps({"instances": images(1)}).replace("], [", "] [", 1).encode(),
    "extra-bracket": json.dumps({"instances": images(1)}).replace("]]]]", "]]]]]").encode(),
    "both-forms": json.dumps({"instances": images(1), "inputs": images(1)}).encode(),
    "3d-rows": json.dumps({"instances": images(1)[0]}).encode(),
    "wrong-input-name": json.dumps({"instances": [{"image": images(1)[0]}]}).encode(),
    "array-inside-a-string": json.dumps({"signature_name": "x: " + json.dumps(images(1))}).encode(),
}
ODD_BUT_ACCEPTED = {  # what the exact path has always accepted stays accepted, with the same pixels
    "bool-pixel": with_pixel("0", "true"),
    "unknown-key": json.dumps({"instances": images(1), "extra": 1}).encode(),
    "pixels-after-other-keys": json.dumps({"signature_name": None, "inputs": {"input_tensor": images(2)}}).encode(),
}
BAD_INFER = {
    "ragged-nested": ragged_v2(),
    "shape-disagrees": v2_body(images(1), flat=True).replace(b"[1, 16, 16, 3]", b"[1, 16, 8, 3]"),
    "out-of-range": v2_body(images(1), flat=True).replace(b'"data": [0, ', b'"data": [300, '),
    "fp32": v2_body(images(1), flat=True).replace(b"UINT8", b"FP32"),
}


@pytest.mark.parametrize("body", ODD_BUT_ACCEPTED.values(), ids=ODD_BUT_ACCEPTED.keys())
def test_odd_predict_bodies_the_exact_path_accepts_decode_the_same(body):
    fast, exact = v1.read_predict(body), exact_predict(body)
    assert fast[1] == exact[1] and fast[0].tobytes() == exact[0].tobytes()


@pytest.mark.parametrize("body", BAD_PREDICT.values(), ids=BAD_PREDICT.keys())
def test_bad_predict_bodies_get_the_exact_paths_400(body):
    with pytest.raises(BadInput) as exact:
        exact_predict(body)
    with pytest.raises(BadInput) as fast:
        v1.read_predict(body)
    assert str(fast.value) == str(exact.value)
    assert status_code(fast.value) == 400


@pytest.mark.parametrize("body", BAD_INFER.values(), ids=BAD_INFER.keys())
def test_bad_infer_bodies_get_the_exact_paths_400(body):
    with pytest.raises(BadInput) as exact:
        exact_infer(body)
    with pytest.raises(BadInput) as fast:
        v2.read_infer(body)
    assert str(fast.value) == str(exact.value)
    assert status_code(fast.value) == 400


def test_out_of_range_pixels_are_refused_on_the_fast_path_too():
    assert numeric_json.load(with_pixel("0", "256")) is not None  # parsed fast, then checked
    with pytest.raises(BadInput, match="within 0-255"):
        v1.read_predict(with_pixel("0", "256"))


@pytest.mark.parametrize("text", [
    "[[1,2],[3,4]]", "[1]", "[[[0, 255, 9]],\n [[10, 20, 30]]]", "[ [ 1 ,2 ] , [3,4] ]", "[[[7]]]",
])
def test_regular_integer_arrays_parse_to_the_nested_shape(text):
    array = numeric_json.parse_array(text.encode())
    assert array is not None
    assert array.shape == np.asarray(json.loads(text)).shape
    assert array.tolist() == json.loads(text)


@pytest.mark.parametrize("text", [
    "[[1,2],[3]]", "[[1],[2,3]]", "[[1,2],3]", "[1,[2,3]]", "[[1,2]3,[4,5]]", "[[1,2][3,4]]", "[[1,2],[3,4]]]",
    "[1 2]", "[01]", "[1,,2]", "[1,]", "[,1]", "[]", "[[]]", "[1000]", "[-1]", "[1.5]", "[1e2]", "[null]", "1",
])
def test_anything_else_is_left_to_the_exact_path(text):
    assert numeric_json.parse_array(text.encode()) is None
