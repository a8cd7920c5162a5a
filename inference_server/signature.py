"""The TF2 Detection Model Zoo serving contract: the one owner of its tensor names and shapes.

The model loader checks a SavedModel against it; every protocol (TF Serving REST and gRPC, the
Open Inference Protocol over REST and gRPC) describes and decodes tensors with it. Pure: no
TensorFlow here.
"""

from __future__ import annotations

SIGNATURE = "serving_default"
INPUT = "input_tensor"
INPUT_DATATYPE = "UINT8"  # Open Inference Protocol name; TensorFlow's DT_UINT8
INPUT_SHAPE = (-1, -1, -1, 3)  # [N, H, W, 3]; -1 = any
MAX_DETECTIONS = 100  # the Zoo exports pad their detections to this
OUTPUT_DATATYPE = "FP32"
OUTPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "detection_boxes": (-1, MAX_DETECTIONS, 4),
    "detection_scores": (-1, MAX_DETECTIONS),
    "detection_classes": (-1, MAX_DETECTIONS),
    "num_detections": (-1,),
}
OUTPUTS = tuple(OUTPUT_SHAPES)
PLATFORM = "tensorflow_savedmodel"
MODEL_VERSION = "1"  # one model, one version
