"""Label maps: id -> display name. COCO (as the Zoo models use) unless the user gives one."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

# The downloader (init container) leaves a given label map under this name inside the model
# directory, and the server looks there first. The format is read from the content (parse), never
# from an extension: a pre-signed `labels.json?X-Amz-Signature=...`, `LABELS.JSON` or a `.txt`
# holding pbtxt all land here alike.
DOWNLOADED = "label_map"
# What the server looks for beside the model: the downloaded map, then one shipped with the model.
BESIDE_MODEL = (DOWNLOADED, "label_map.pbtxt", "label_map.json")

_ITEM = re.compile(r"item\s*\{(.*?)\}", re.DOTALL)
_FIELD = re.compile(r"""(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))""")


class LabelMapError(ValueError):
    pass


def parse_pbtxt(text: str) -> dict[int, str]:
    """`item { id: 1 name: "/m/01g317" display_name: "person" }`: display_name wins over name."""
    labels: dict[int, str] = {}
    for body in _ITEM.findall(text):
        fields = {m[0]: m[1] or m[2] or m[3] for m in _FIELD.findall(body)}
        if "id" not in fields:
            raise LabelMapError(f"label map item without an id: item {{{body.strip()}}}")
        labels[int(fields["id"])] = fields.get("display_name") or fields.get("name") or f"class {fields['id']}"
    if not labels:
        raise LabelMapError("no `item { id: ... display_name: ... }` entries found")
    return labels


def parse_json(text: str) -> dict[int, str]:
    """`{"1": "person", "2": "bicycle"}`."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not data:
            raise LabelMapError('expected a non-empty JSON object like {"1": "person"}')
        return {int(k): str(v) for k, v in data.items()}
    except (json.JSONDecodeError, ValueError) as exc:
        raise LabelMapError(f"not a JSON label map: {exc}") from exc


def parse(text: str) -> dict[int, str]:
    return parse_json(text) if text.lstrip().startswith("{") else parse_pbtxt(text)


def coco() -> dict[int, str]:
    return parse_pbtxt(resources.files("inference_server.data").joinpath("mscoco_label_map.pbtxt").read_text())


def load(path: Path | None) -> dict[int, str]:
    if path is None:
        return coco()
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except LabelMapError as exc:
        raise LabelMapError(f"label map {path}: {exc}") from exc


def beside(model_dir: Path) -> Path | None:
    """The label map that came with the model directory, if any."""
    for name in BESIDE_MODEL:
        if (model_dir / name).is_file():
            return model_dir / name
    return None
