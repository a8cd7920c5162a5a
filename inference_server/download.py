"""`python -m inference_server.download --model-uri URI --dest DIR [--label-map URI]`: the init container.

Leaves the SavedModel at DIR (DIR/saved_model.pb) and the label map, checked, at
DIR/label_map (labels.DOWNLOADED, whatever the URI's extension: the content tells the format),
where the server finds it. On failure: exit 1 with one line on stderr and in
/dev/termination-log (shown as ModelLoadFailed).

The model URI may come from the environment (DETECTOR_MODEL_URI): the operator sets it from a
Secret for spec.modelUriFrom, so a pre-signed URL never stands in the pod's args. Whatever it
fails on, the line names the URI redacted and the reason, and every line this process writes
(its own, its libraries' log records) is scrubbed of the URIs' secrets and of the secret-named
environment variables (redaction.scrub).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from redaction import redact_uri, scrub, secrets_of

from . import labels, storage
from .download_limits import MAX_BYTES_ENV, MAX_MEMBERS_ENV, DownloadLimits
from .termination import TERMINATION_LOG, write_termination_log

MODEL_URI_ENV = "DETECTOR_MODEL_URI"
# What a URI from a Secret may be: a remote model (a local path in a Secret makes no sense).
REMOTE_URI = re.compile(r"^(gs|s3|https?)://[^/?#\s]+")


def argv_value(argv: Sequence[str] | None, flag: str) -> str | None:
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def fetch(model_uri: str, dest: Path, label_map_uri: str | None = None, limits: DownloadLimits | None = None) -> Path:
    found = storage.download(model_uri, dest, limits)
    if found.resolve() != dest.resolve():  # a local directory: copy it to where the server expects it
        shutil.copytree(found, dest, dirs_exist_ok=True)
    if label_map_uri:
        target = dest / labels.DOWNLOADED
        source = storage.fetch_file(label_map_uri, target)
        if source != target:
            shutil.copyfile(source, target)
        labels.load(target)  # fail here, not in the server, when the map is malformed
    return dest


class _Scrubbed(logging.Filter):
    """Every log record, ours and the libraries' (botocore, urllib3), through redaction.scrub."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage(), self.secrets), None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


def failure_line(exc: BaseException, model_uri: str | None, secrets: Sequence[str]) -> str:
    """One line: our own errors say what failed in their words (the URI already redacted); any
    other exception is named with the redacted model URI, its text scrubbed."""
    if isinstance(exc, (storage.StorageError, labels.LabelMapError)):
        reason = str(exc)
    else:
        reason = f"{redact_uri(model_uri or '')}: {type(exc).__name__}: {exc}"
    return scrub(f"model download failed: {reason}".replace("\n", " "), secrets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference_server.download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", default=os.environ.get(MODEL_URI_ENV),
                        help=f"the model's URI (default: ${MODEL_URI_ENV})")
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--label-map", default=None)
    defaults = DownloadLimits.from_env()
    parser.add_argument("--max-bytes", type=int, default=defaults.max_bytes,
                        help=f"most bytes fetched, and most unpacked (default: ${MAX_BYTES_ENV} or "
                             f"{defaults.max_bytes}; the operator passes half the model volume's sizeLimit)")
    parser.add_argument("--max-members", type=int, default=defaults.max_members,
                        help=f"most files and directories in an archive (default: ${MAX_MEMBERS_ENV} or "
                             f"{defaults.max_members})")
    return parser


def main(argv: list[str] | None = None, termination_log: Path = TERMINATION_LOG) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse quotes bad values (a URI among them) in its message
        if exit_.code not in (0, None):
            write_termination_log("model download failed: invalid arguments (see the container's log)",
                                  termination_log)
        raise
    secrets = secrets_of([args.model_uri, args.label_map], os.environ)
    from_env = argv_value(argv, "--model-uri") is None and bool(os.environ.get(MODEL_URI_ENV))
    if from_env:  # it came from a Secret: the whole value is a secret until it proves to be a URI
        secrets.insert(0, args.model_uri)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Scrubbed(secrets))
    logging.getLogger("botocore").setLevel(logging.WARNING)  # keep stderr to our own lines
    try:
        if not args.model_uri:
            raise storage.StorageError(f"no model URI: pass --model-uri or set {MODEL_URI_ENV}")
        if from_env and not REMOTE_URI.match(args.model_uri):
            # A Secret key that holds something else (a password, say) must not be echoed back
            # into the termination message, which the operator copies into status.
            raise storage.StorageError(f"${MODEL_URI_ENV} (spec.modelUriFrom) is not a gs://, s3:// or http(s):// URI")
        fetch(args.model_uri, args.dest, args.label_map, DownloadLimits(args.max_bytes, args.max_members))
    except Exception as exc:  # noqa: BLE001 - whatever it was, the pod must show one readable line
        line = failure_line(exc, args.model_uri, secrets)
        print(line, file=sys.stderr)
        write_termination_log(line, termination_log)
        return 1
    print(f"model ready at {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
