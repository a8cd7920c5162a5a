"""Image in, boxes out: decode JPEG/PNG, turn Zoo outputs into labelled pixel boxes, draw them."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError
from pydantic import BaseModel

from ..errors import BadInput, UnsupportedMediaType

MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG"}


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


def image_size(body: bytes, media_type: str) -> tuple[int, int]:
    """(width, height) from the image's header alone, before anything is decoded: the limits and
    the pixel budget are checked on it (limits.py)."""
    with _opened(body, media_type) as image:
        return image.size


def decode_image(body: bytes, media_type: str) -> np.ndarray:
    """JPEG/PNG bytes -> uint8 [H, W, 3] RGB. Runs on worker threads: no global state (warnings) touched."""
    with _opened(body, media_type) as image:
        try:
            rgb = image if image.mode == "RGB" else image.convert("RGB")  # no second copy of an RGB image
            return np.asarray(rgb, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise BadInput(f"cannot decode the image as {MEDIA_TYPES[media_type]}: {exc}") from exc


def _opened(body: bytes, media_type: str) -> Image.Image:
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"unsupported media type {media_type!r}: send image/jpeg or image/png")
    if not body:
        raise BadInput("empty image")
    try:
        return Image.open(io.BytesIO(body), formats=list(MEDIA_TYPES.values()))  # reads the header only
    except UnidentifiedImageError as exc:  # its message names a BytesIO object: say it plainly
        raise BadInput("cannot decode the image: not a JPEG or PNG") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadInput(f"cannot decode the image as {MEDIA_TYPES[media_type]}: {exc}") from exc


def to_detections(
    outputs: dict[str, np.ndarray], width: int, height: int, labels: dict[int, str], threshold: float, limit: int
) -> list[dict[str, Any]]:
    """One image's Zoo outputs (no batch axis) -> detections above threshold, best first, in pixels,
    as plain dicts shaped like `Detection` (numpy picks them: no model object per candidate box)."""
    count = int(outputs["num_detections"])
    scores = outputs["detection_scores"][:count]
    keep = np.flatnonzero(scores >= threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")][:max(limit, 0)]
    boxes = np.clip(outputs["detection_boxes"][keep], 0.0, 1.0) * np.array([height, width, height, width])
    found = []
    rounded_scores = scores[keep].astype(np.float64).round(4).tolist()  # float64: 0.9, not 0.8999999761
    class_ids = outputs["detection_classes"][keep].astype(int).tolist()
    for (ymin, xmin, ymax, xmax), score, class_id in zip(boxes.round(1).tolist(), rounded_scores, class_ids,
                                                         strict=True):
        found.append({
            "label": labels.get(class_id, f"class {class_id}"), "class_id": class_id, "score": score,
            "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax},
        })
    return found


_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def draw(image: np.ndarray, detections: list[dict[str, Any]]) -> bytes:
    """PNG of the image with each box and its label drawn on it (detections as to_detections gives)."""
    canvas = Image.fromarray(image)
    pen = ImageDraw.Draw(canvas)
    for d in detections:
        colour = _COLOURS[d["class_id"] % len(_COLOURS)]
        box = d["box"]
        pen.rectangle([box["xmin"], box["ymin"], box["xmax"], box["ymax"]], outline=colour, width=2)
        text = f"{d['label']} {d['score']:.2f}"
        left, top, right, bottom = pen.textbbox((box["xmin"], box["ymin"]), text)
        pen.rectangle([left, top, right + 2, bottom], fill=colour)
        pen.text((box["xmin"] + 1, box["ymin"]), text, fill=(0, 0, 0))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()
