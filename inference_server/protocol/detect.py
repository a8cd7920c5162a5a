"""Image in, boxes out: decode JPEG/PNG, turn Zoo outputs into labelled pixel boxes, draw them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from pydantic import BaseModel

from ..errors import BadInput, UnsupportedMediaType

MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}
MAX_PIXELS = 40_000_000  # below Pillow's decompression-bomb limit, far above any camera frame


class Box(BaseModel):
    xmin: float
    ymin: float
    xmax: float
    ymax: float


class Detection(BaseModel):
    label: str
    class_id: int
    score: float
    box: Box


class ImageSize(BaseModel):
    width: int
    height: int


class DetectResponse(BaseModel):
    model: str
    image: ImageSize
    detections: list[Detection]


def decode_image(body: bytes, media_type: str) -> np.ndarray:
    """JPEG/PNG bytes -> uint8 [H, W, 3] RGB. Runs on worker threads: no global state (warnings) touched."""
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"unsupported media type {media_type!r}: send image/jpeg or image/png")
    if not body:
        raise BadInput("empty image")
    try:
        image = Image.open(io.BytesIO(body), formats=list(MEDIA_TYPES.values()))  # reads the header only
        if image.width * image.height > MAX_PIXELS:
            raise BadInput(f"image is {image.width}x{image.height}; at most {MAX_PIXELS} pixels are accepted")
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except BadInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadInput(f"cannot decode the image as JPEG or PNG: {exc}") from exc


def to_detections(
    outputs: dict[str, np.ndarray], width: int, height: int, labels: dict[int, str], threshold: float, limit: int
) -> list[Detection]:
    """One image's Zoo outputs (no batch axis) -> detections above threshold, best first, in pixels."""
    count = int(outputs["num_detections"])
    scores = outputs["detection_scores"][:count]
    order = np.argsort(-scores, kind="stable")
    found: list[Detection] = []
    for i in order:
        score = float(scores[i])
        if score < threshold or len(found) >= limit:
            break
        ymin, xmin, ymax, xmax = (float(v) for v in np.clip(outputs["detection_boxes"][i], 0.0, 1.0))
        class_id = int(outputs["detection_classes"][i])
        found.append(Detection(
            label=labels.get(class_id, f"class {class_id}"), class_id=class_id, score=round(score, 4),
            box=Box(xmin=round(xmin * width, 1), ymin=round(ymin * height, 1),
                    xmax=round(xmax * width, 1), ymax=round(ymax * height, 1)),
        ))
    return found


_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def draw(image: np.ndarray, detections: list[Detection]) -> bytes:
    """PNG of the image with each box and its label drawn on it."""
    canvas = Image.fromarray(image)
    pen = ImageDraw.Draw(canvas)
    for d in detections:
        colour = _COLOURS[d.class_id % len(_COLOURS)]
        pen.rectangle([d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax], outline=colour, width=2)
        text = f"{d.label} {d.score:.2f}"
        left, top, right, bottom = pen.textbbox((d.box.xmin, d.box.ymin), text)
        pen.rectangle([left, top, right + 2, bottom], fill=colour)
        pen.text((d.box.xmin + 1, d.box.ymin), text, fill=(0, 0, 0))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()
