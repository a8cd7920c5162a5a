"""Pure codecs: JSON tensors and images in, checked arrays out; model outputs in, wire answers out."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from inference_server.errors import BadInput, TooLarge, UnsupportedMediaType, status_code
from inference_server.limits import Limits
from inference_server.protocol import detect, v1, v2, v2_binary
from tests.support.images import encode, picture


def outputs(n: int) -> dict[str, np.ndarray]:
    boxes = np.zeros((n, 100, 4), np.float32)
    boxes[:, 0] = [0.1, 0.2, 0.5, 0.6]
    boxes[:, 1] = [0.0, 0.0, 1.0, 1.0]
    scores = np.zeros((n, 100), np.float32)
    scores[:, :3] = [0.4, 0.9, 0.2]
    classes = np.ones((n, 100), np.float32)
    classes[:, 1] = 18
    return {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": classes,
            "num_detections": np.full((n,), 3.0, np.float32)}


def test_v1_row_and_columnar_requests_decode_to_the_same_batch():
    image = picture(8, 6).tolist()
    rows, form_r = v1.decode_predict(v1.PredictRequest(instances=[image, {"input_tensor": image}]))
    cols, form_c = v1.decode_predict(v1.PredictRequest(inputs={"input_tensor": [image, image]}))
    assert (form_r, form_c) == ("row", "columnar")
    assert rows.shape == cols.shape == (2, 6, 8, 3) and rows.dtype == np.uint8
    assert np.array_equal(rows, cols)


def test_v1_answers_like_tf_serving():
    row = v1.encode_predict(outputs(2), "row")
    assert len(row["predictions"]) == 2 and len(row["predictions"][0]["detection_boxes"]) == 100
    col = v1.encode_predict(outputs(2), "columnar")
    assert np.asarray(col["outputs"]["detection_scores"]).shape == (2, 100)


@pytest.mark.parametrize("request_body", [
    {"instances": [[[1, 2, 3]]]},                      # [H, 3]: missing a dimension
    {"instances": [[[[1, 2, 3], [4, 5]]]]},            # ragged
    {"instances": [[[[1.5, 2, 3]]]]},                  # not integers
    {"instances": [[[[1, 2, 300]]]]},                  # out of uint8 range
    {"instances": [[[[1, 2, 3, 4]]]]},                 # 4 channels
    {"instances": []},
    {"inputs": {"images": [[[[1, 2, 3]]]]}},            # wrong input name
    {"instances": [[[[1, 2, 3]]]], "inputs": [[[[1, 2, 3]]]]},
    {},
    {"signature_name": "other", "instances": [[[[1, 2, 3]]]]},
])
def test_v1_bad_requests_are_400_with_a_reason(request_body):
    with pytest.raises(BadInput) as err:
        v1.decode_predict(v1.PredictRequest(**request_body))
    assert status_code(err.value) == 400 and str(err.value)


def test_v1_status_follows_the_model_lifecycle():
    assert v1.model_status(False, None).model_version_status[0].state == "LOADING"
    assert v1.model_status(True, None).model_version_status[0].state == "AVAILABLE"
    failed = v1.model_status(False, "no saved_model.pb").model_version_status[0]
    assert failed.state == "END" and failed.status["error_message"] == "no saved_model.pb"


def test_v2_flat_data_is_reshaped_and_outputs_can_be_chosen():
    request = v2.InferRequest(
        inputs=[v2.InferInput(name="input_tensor", shape=[1, 2, 2, 3], datatype="UINT8", data=list(range(12)))],
        outputs=[v2.RequestedOutput(name="num_detections")],
    )
    batch = v2.decode_infer(request)
    assert batch.shape == (1, 2, 2, 3) and batch[0, 1, 1, 2] == 11
    content, _ = v2_binary.encode_infer("m", request, outputs(1))  # what /infer answers with
    answer = v2.InferResponse.model_validate_json(content)
    assert [o.name for o in answer.outputs] == ["num_detections"]
    assert answer.outputs[0].shape == [1] and answer.outputs[0].data == [3.0]


@pytest.mark.parametrize("name,shape,datatype,data,outs", [
    ("input_tensor", [1, 2, 2, 3], "FP32", [0] * 12, None),
    ("input_tensor", [1, 2, 2, 3], "UINT8", [0] * 11, None),
    ("input_tensor", [2, 2, 3], "UINT8", [0] * 12, None),
    ("input_tensor", [1, 0, 2, 3], "UINT8", [], None),
    ("images", [1, 2, 2, 3], "UINT8", [0] * 12, None),
    ("input_tensor", [1, 2, 2, 3], "UINT8", [0] * 12, ["masks"]),
])
def test_v2_wrong_name_shape_datatype_or_output_is_400(name, shape, datatype, data, outs):
    request = v2.InferRequest(
        inputs=[v2.InferInput(name=name, shape=shape, datatype=datatype, data=data)],
        outputs=[v2.RequestedOutput(name=o) for o in outs] if outs else None,
    )
    with pytest.raises(BadInput):
        v2.decode_infer(request)


def test_raw_json_bodies_parse_to_the_same_batches_as_the_models():
    image = [[[1, 2, 3], [4, 5, 6]]]
    rows, form = v1.decode_predict(v1.parse_predict(json.dumps({"instances": [image]}).encode()))
    assert form == "row" and rows.tolist() == [image]
    body = {"inputs": [{"name": "input_tensor", "shape": [1, 1, 2, 3], "datatype": "UINT8", "data": list(range(6))}]}
    assert v2.decode_infer(v2.parse_infer(json.dumps(body).encode())).reshape(-1).tolist() == list(range(6))


@pytest.mark.parametrize("parse", [v1.parse_predict, v2.parse_infer])
@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b"\xff\xfe\x00", b"[" * 100_000,
    b'{"instances": {"input_tensor": 1}, "signature_name": 5}',
    b'{"inputs": [{"name": "input_tensor", "shape": [1], "datatype": "UINT8", "data": "abc"}]}',
    b'{"inputs": [{"name": "input_tensor", "data": [1]}]}',
    b'{"inputs": 7}',
])
def test_malformed_json_bodies_are_400_with_a_reason(parse, body):
    with pytest.raises(BadInput, match=r"invalid request|instances|input"):
        request = parse(body)
        (v1.decode_predict if parse is v1.parse_predict else v2.decode_infer)(request)


def test_detections_are_in_pixels_best_first_above_threshold():
    found = detect.to_detections({k: v[0] for k, v in outputs(1).items()}, 200, 100, {1: "person", 18: "dog"}, 0.3, 10)
    assert [(d["label"], d["score"]) for d in found] == [("dog", 0.9), ("person", 0.4)]
    assert found[1]["box"] == {"xmin": 40.0, "ymin": 10.0, "xmax": 120.0, "ymax": 50.0}


def test_max_detections_caps_the_answer():
    found = detect.to_detections({k: v[0] for k, v in outputs(1).items()}, 10, 10, {}, 0.0, 1)
    assert len(found) == 1 and found[0]["label"] == "class 18"


@pytest.mark.parametrize("fmt,media_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_images_decode_to_rgb_arrays(fmt, media_type):
    array = detect.decode_image(encode(picture(16, 8), fmt), media_type)
    assert array.shape == (8, 16, 3) and array.dtype == np.uint8


def test_undecodable_image_is_400_with_a_plain_message_and_wrong_media_type_is_415():
    with pytest.raises(BadInput) as bad:
        detect.decode_image(b"definitely not a picture", "image/png")
    assert str(bad.value) == "cannot decode the image: not a JPEG or PNG"  # no <_io.BytesIO object at 0x...>
    with pytest.raises(UnsupportedMediaType) as err:
        detect.decode_image(encode(picture(4, 4)), "image/gif")
    assert status_code(err.value) == 415


def test_drawing_returns_a_png_of_the_same_size():
    found = detect.to_detections({k: v[0] for k, v in outputs(1).items()}, 64, 32, {}, 0.3, 10)
    png = detect.draw(picture(64, 32), found)
    assert Image.open(io.BytesIO(png)).size == (64, 32)


def test_a_huge_image_is_refused_from_its_header_before_decoding():
    out = io.BytesIO()
    Image.new("L", (8000, 6000)).save(out, format="PNG")  # 48 Mpx, compresses to a few KB
    assert detect.image_size(out.getvalue(), "image/png") == (8000, 6000)  # the header alone
    with pytest.raises(TooLarge, match="at most 16777216 per image") as refused:
        Limits().check_image(8000, 6000)
    assert status_code(refused.value) == 413
