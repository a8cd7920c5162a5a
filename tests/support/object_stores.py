"""Real object stores on loopback for tests: a gated HTTP file server, moto's S3 server, the GCS emulator."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from localprocs import free_port


class GatedFileServer:
    """Serves a directory over HTTP; files named in `gated` wait until `release()` (a slow download),
    names in `forbidden` answer 403, names in `cut_short` announce their whole length but send only
    the first half before the connection drops."""

    def __init__(self, root: Path, gated: set[str] | None = None, forbidden: set[str] | None = None,
                 cut_short: set[str] | None = None) -> None:
        self.root = root
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        gate, names, refused, short = self.gate, gated or set(), forbidden or set(), cut_short or set()

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/").split("?")[0]
                if name in refused:
                    self.send_error(403)
                    return
                if name in names:
                    gate.wait(120)
                if name in short:
                    data = (root / name).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# What a served file holds: a file to copy, or the bytes or text to write.
Content = Path | bytes | str


def write_files(root: Path, files: Mapping[str, Content]) -> Path:
    """`root` holding `files` (name -> a Path to copy, or bytes or text to write); returns root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return root


@contextmanager
def serving(root: Path, files: Mapping[str, Content] | None = None, *, gated: set[str] | None = None,
            forbidden: set[str] | None = None, cut_short: set[str] | None = None) -> Iterator[GatedFileServer]:
    """A GatedFileServer over `root` (with `files` written into it first), closed on exit. Tests
    use the `file_server` fixture (tests/conftest.py); session fixtures use this directly."""
    server = GatedFileServer(write_files(root, files or {}), gated=gated, forbidden=forbidden, cut_short=cut_short)
    try:
        yield server
    finally:
        server.close()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """moto's S3 server mode on 127.0.0.1; yields the environment a client needs to reach it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {**S3_ENV, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


def s3_client(env: dict[str, str]):
    import boto3

    return boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@contextmanager
def gcs_emulator(bucket: str) -> Iterator[dict[str, str]]:
    """gcp-storage-emulator in memory on 127.0.0.1; yields STORAGE_EMULATOR_HOST for clients."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


def gcs_upload(env: dict[str, str], bucket: str, name: str, data: bytes) -> None:
    from google.cloud import storage

    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = env["STORAGE_EMULATOR_HOST"]  # the client reads it at creation
    try:
        storage.Client.create_anonymous_client().bucket(bucket).blob(name).upload_from_string(data)
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST")
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
