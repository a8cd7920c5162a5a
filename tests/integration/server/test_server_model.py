"""Detector against real SavedModels: the signature check and what it returns."""

from __future__ import annotations

import numpy as np
import pytest

from inference_server.model import Detector, ModelError
from tests.support.images import picture


def test_loaded_detector_answers_zoo_outputs_for_a_batch(zoo_model_dir):
    detector = Detector()
    assert not detector.ready
    detector.load(zoo_model_dir)
    assert detector.ready and detector.load_seconds > 0
    out = detector.predict(np.stack([picture(64, 48, seed=1), picture(64, 48, seed=2)]))
    assert out["detection_boxes"].shape == (2, 100, 4) and out["num_detections"].shape == (2,)
    assert out["detection_classes"].min() >= 1  # 1-based like the Zoo


def test_zoo_exports_with_a_fixed_batch_of_one_still_serve_batches(tmp_path, zoo_model_dir):
    from tests.support.zoo_model import build_zoo_savedmodel

    fixed, free = Detector(), Detector()
    fixed.load(build_zoo_savedmodel(tmp_path / "fixed", batch_size=1))
    free.load(zoo_model_dir)
    batch = np.stack([picture(64, 48, seed=s) for s in range(3)])
    assert fixed.fixed_batch == 1 and free.fixed_batch is None
    got, want = fixed.predict(batch), free.predict(batch)  # same weights: the same answers
    assert got["detection_scores"].shape == (3, 100)
    np.testing.assert_allclose(got["detection_scores"], want["detection_scores"], atol=1e-4)


def _save(tmp_path, fn_builder, signature="serving_default"):
    import tensorflow as tf

    module = tf.Module()
    module.fn = fn_builder(tf)
    tf.saved_model.save(module, str(tmp_path), signatures={signature: module.fn})
    return tmp_path


def test_missing_serving_default_is_a_clear_error(tmp_path):
    path = _save(tmp_path, lambda tf: tf.function(lambda input_tensor: {"detection_boxes": input_tensor},
                 input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)]), signature="detect")
    with pytest.raises(ModelError, match="no 'serving_default' signature"):
        Detector().load(path)


def test_wrong_input_dtype_is_a_clear_error(tmp_path):
    def build(tf):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="input_tensor")])
        def fn(input_tensor):
            return dict.fromkeys(("detection_boxes", "detection_scores", "detection_classes", "num_detections"),
                                 input_tensor)
        return fn

    with pytest.raises(ModelError, match="must be uint8"):
        Detector().load(_save(tmp_path, build))


def test_missing_detection_outputs_is_a_clear_error(tmp_path):
    def build(tf):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="input_tensor")])
        def fn(input_tensor):
            return {"detection_boxes": tf.cast(input_tensor, tf.float32)}
        return fn

    with pytest.raises(ModelError, match="lacks the detection outputs"):
        Detector().load(_save(tmp_path, build))


def test_a_directory_that_is_not_a_savedmodel_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"no saved_model\.pb"):
        Detector().load(tmp_path)
