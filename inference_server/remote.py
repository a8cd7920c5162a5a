"""One small fetcher per remote scheme. Each fetches a URI into a staging directory and returns the
local path: a single file (maybe an archive) or a directory (an s3/gs prefix). Failures raise
storage_errors' tree directly, with the redacted URI in the message."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .storage_errors import AccessDenied, ModelNotFound, StorageError, redact

_CHUNK = 1 << 20


def fetch_http(uri: str, staging: Path) -> Path:
    target = staging / (Path(urlparse(uri).path).name or "download")
    where = redact(uri)
    try:
        with urllib.request.urlopen(uri, timeout=60) as response, open(target, "wb") as out:
            expected = response.headers.get("Content-Length")
            got = _copy(response, out, where, expected)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ModelNotFound(f"{where} not found: HTTP 404: nothing at that address") from exc
        if exc.code in (401, 403):
            raise AccessDenied(f"{where}: access denied: HTTP {exc.code}: the server refused access") from exc
        raise StorageError(f"{where}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StorageError(f"{where}: cannot reach the server: {getattr(exc, 'reason', exc)}") from exc
    # urllib returns a short body without complaint when the connection drops early: check the
    # length here, or the next step fails with a puzzle ("Compressed file ended before the end-of-
    # stream marker was reached") instead of the cause.
    if expected is not None and expected.isdigit() and got != int(expected):
        raise StorageError(f"{where}: download cut short: got {got} of {int(expected)} bytes")
    return target


def _copy(response, out, where: str, expected: str | None) -> int:
    got = 0
    try:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            got += len(chunk)
    except http.client.IncompleteRead as exc:  # a chunked body that stopped mid-chunk
        got += len(exc.partial)
        total = f" of {expected}" if expected else ""
        raise StorageError(f"{where}: download cut short: got {got}{total} bytes") from exc
    return got


def _s3_client():
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    session = boto3.session.Session()
    # No credentials at all: public buckets still work unsigned.
    config = Config(signature_version=UNSIGNED) if session.get_credentials() is None else None
    return session.client("s3", endpoint_url=endpoint, config=config)


def fetch_s3(uri: str, staging: Path) -> Path:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    client = _s3_client()
    try:
        if key and not key.endswith("/"):
            try:
                target = staging / Path(key).name
                client.download_file(bucket, key, str(target))
                return target
            except ClientError as exc:
                if _s3_code(exc) not in ("404", "NoSuchKey"):
                    raise
        prefix = key.rstrip("/") + "/" if key else ""
        root = staging / "prefix"
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or rel.endswith("/"):
                    continue
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, obj["Key"], str(root / rel))
                count += 1
        if count == 0:
            raise ModelNotFound(f"{redact(uri)} not found: no object or prefix {key!r} in bucket {bucket!r}")
        return root
    except ClientError as exc:
        code = _s3_code(exc)
        if code in ("NoSuchBucket", "404", "NoSuchKey"):
            raise ModelNotFound(f"{redact(uri)} not found: bucket {bucket!r} or key {key!r} does not exist ({code})") from exc
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            raise AccessDenied(f"{redact(uri)}: access denied: S3 refused access ({code}): check AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY") from exc
        raise StorageError(f"{redact(uri)}: S3 error {code}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{redact(uri)}: S3: {exc}") from exc


def _s3_code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _gcs_client():
    from google.cloud import storage

    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return storage.Client()
    # No credentials: public buckets (and the emulator, via STORAGE_EMULATOR_HOST) work anonymously.
    return storage.Client.create_anonymous_client()


def fetch_gs(uri: str, staging: Path) -> Path:
    from google.api_core import exceptions as gexc

    parsed = urlparse(uri)
    bucket_name, key = parsed.netloc, parsed.path.lstrip("/")
    try:
        bucket = _gcs_client().bucket(bucket_name)
        if key and not key.endswith("/"):
            blob = bucket.blob(key)
            if blob.exists():
                target = staging / Path(key).name
                blob.download_to_filename(str(target))
                return target
        prefix = key.rstrip("/") + "/" if key else ""
        root = staging / "prefix"
        count = 0
        for blob in bucket.list_blobs(prefix=prefix):
            rel = blob.name[len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(root / rel))
            count += 1
        if count == 0:
            raise ModelNotFound(f"{redact(uri)} not found: no object or prefix {key!r} in bucket {bucket_name!r}")
        return root
    except gexc.NotFound as exc:
        raise ModelNotFound(f"{redact(uri)} not found: bucket {bucket_name!r} does not exist") from exc
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise AccessDenied(f"{redact(uri)}: access denied: GCS refused access: check GOOGLE_APPLICATION_CREDENTIALS") from exc
    except gexc.GoogleAPIError as exc:
        raise StorageError(f"{redact(uri)}: GCS error: {exc}") from exc
