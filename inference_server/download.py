"""`python -m inference_server.download --model-uri URI --dest DIR [--label-map URI]`: the init container.

Leaves the SavedModel at DIR (DIR/saved_model.pb) and the label map, checked, at
DIR/label_map (labels.DOWNLOADED, whatever the URI's extension: the content tells the format),
where the server finds it. On failure: exit 1 with one line on stderr and in
/dev/termination-log (shown as ModelLoadFailed).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from . import labels, storage
from .termination import TERMINATION_LOG, write_termination_log


def fetch(model_uri: str, dest: Path, label_map_uri: str | None = None) -> Path:
    found = storage.download(model_uri, dest)
    if found.resolve() != dest.resolve():  # a local directory: copy it to where the server expects it
        shutil.copytree(found, dest, dirs_exist_ok=True)
    if label_map_uri:
        target = dest / labels.DOWNLOADED
        source = storage.fetch_file(label_map_uri, target)
        if source != target:
            shutil.copyfile(source, target)
        labels.load(target)  # fail here, not in the server, when the map is malformed
    return dest


def main(argv: list[str] | None = None, termination_log: Path = TERMINATION_LOG) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_server.download", description=__doc__)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--label-map", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # keep stderr to our own lines
    try:
        fetch(args.model_uri, args.dest, args.label_map)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the pod must show one readable line
        reason = str(exc) if isinstance(exc, (storage.StorageError, labels.LabelMapError)) else (
            f"{type(exc).__name__}: {exc}")
        line = f"model download failed: {reason}".replace("\n", " ")
        print(line, file=sys.stderr)
        write_termination_log(line, termination_log)
        return 1
    print(f"model ready at {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
