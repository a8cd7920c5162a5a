"""One small fetcher per remote scheme. Each fetches a URI into a staging directory and returns the
local path: a single file (maybe an archive) or a directory (an s3/gs prefix), never more than
max_bytes (checked against the sizes the store announces before downloading, and as the bytes
arrive). Failures raise storage_errors' tree directly, with the redacted URI in the message and a
reason of our own words: never an exception's text that could quote the URI."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from .download_limits import LimitExceeded, check_bytes
from .storage_errors import AccessDenied, ModelNotFound, StorageError, TooLarge, redact

_CHUNK = 1 << 20
DOWNLOAD_IS = "the download is"


def _too_large(where: str, total: int, max_bytes: int) -> None:
    try:
        check_bytes(max_bytes, total, DOWNLOAD_IS)
    except LimitExceeded as exc:
        raise TooLarge(f"{where}: {exc}") from None


def _malformed(where: str, exc: Exception) -> StorageError:
    """urllib's own message quotes the URL (and with it the signature): say what is wrong instead."""
    text = str(exc)
    if "port" in text:
        why = "the host's port is not a number"
    elif "control characters" in text:
        why = "it contains a space or a control character (percent-encode them)"
    else:
        why = f"urllib refused it ({type(exc).__name__})"
    return StorageError(f"{where}: not a valid URL: {why}")


def fetch_http(uri: str, staging: Path, max_bytes: int) -> Path:
    parsed = urlparse(uri)
    target = staging / (Path(parsed.path).name or "download")
    where = redact(uri)
    if "@" in parsed.netloc:
        raise StorageError(f"{where}: a user:password@ in an http(s) URL is not supported: put a pre-signed URL in a "
                           "Secret (spec.modelUriFrom) instead")
    try:
        with urllib.request.urlopen(uri, timeout=60) as response, open(target, "wb") as out:
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit():
                _too_large(where, int(expected), max_bytes)
            got = _copy(response, out, where, expected, max_bytes)
    except (ValueError, http.client.InvalidURL) as exc:
        raise _malformed(where, exc) from None
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


def _copy(response: http.client.HTTPResponse, out: IO[bytes], where: str, expected: str | None,
          max_bytes: int) -> int:
    got = 0
    try:
        while chunk := response.read(_CHUNK):
            _too_large(where, got + len(chunk), max_bytes)  # a server that sends more than it announced
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


def _relative(prefix_root: Path, rel: str, where: str) -> Path:
    """Where an object under a prefix goes: keys are names, not paths, and may hold '..'."""
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise StorageError(f"{where}: object {rel!r} under the prefix would land outside the model directory")
    return prefix_root.joinpath(*parts)


def fetch_s3(uri: str, staging: Path, max_bytes: int) -> Path:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    try:
        client = _s3_client()
    except (BotoCoreError, ValueError) as exc:
        raise StorageError(f"{redact(uri)}: S3 client: {type(exc).__name__} (check AWS_ENDPOINT_URL_S3 and the "
                           "credentials Secret)") from None
    try:
        if key and not key.endswith("/"):
            try:
                size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
                _too_large(redact(uri), size, max_bytes)
                target = staging / Path(key).name
                client.download_file(bucket, key, str(target))
                return target
            except ClientError as exc:
                if _s3_code(exc) not in ("404", "NoSuchKey", "Not Found"):
                    raise
        prefix = key.rstrip("/") + "/" if key else ""
        root = staging / "prefix"
        count = total = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or rel.endswith("/"):
                    continue
                total += int(obj.get("Size", 0))
                _too_large(redact(uri), total, max_bytes)
                path = _relative(root, rel, redact(uri))
                path.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, obj["Key"], str(path))
                count += 1
        if count == 0:
            raise ModelNotFound(f"{redact(uri)} not found: no object or prefix {key!r} in bucket {bucket!r}")
        return root
    except ClientError as exc:
        code = _s3_code(exc)
        if code in ("NoSuchBucket", "404", "NoSuchKey"):
            raise ModelNotFound(
                f"{redact(uri)} not found: bucket {bucket!r} or key {key!r} does not exist ({code})") from exc
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            raise AccessDenied(f"{redact(uri)}: access denied: S3 refused access ({code}): check AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY") from exc
        raise StorageError(f"{redact(uri)}: S3 error {code}") from exc
    except BotoCoreError as exc:
        # botocore's text can quote the endpoint URL (and a password in it): the class names the cause.
        raise StorageError(f"{redact(uri)}: S3: {_boto_reason(exc)}") from None


def _boto_reason(exc: Exception) -> str:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    if isinstance(exc, EndpointConnectionError):
        return f"Could not connect to the endpoint {redact(str(exc.kwargs.get('endpoint_url', '')))}"
    if isinstance(exc, NoCredentialsError):
        return "no credentials found"
    if "Endpoint" in type(exc).__name__:
        return f"{type(exc).__name__}: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) is not a valid URL"
    return type(exc).__name__


def _s3_code(exc: Any) -> str:  # a botocore ClientError (boto3 ships no types)
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _gcs_client():
    from google.cloud import storage

    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return storage.Client()
    # No credentials: public buckets (and the emulator, via STORAGE_EMULATOR_HOST) work anonymously.
    return storage.Client.create_anonymous_client()


def fetch_gs(uri: str, staging: Path, max_bytes: int) -> Path:
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    parsed = urlparse(uri)
    bucket_name, key = parsed.netloc, parsed.path.lstrip("/")
    try:
        bucket = _gcs_client().bucket(bucket_name)
        if key and not key.endswith("/"):
            blob = bucket.get_blob(key)
            if blob is not None:
                _too_large(redact(uri), blob.size or 0, max_bytes)
                target = staging / Path(key).name
                blob.download_to_filename(str(target))
                return target
        prefix = key.rstrip("/") + "/" if key else ""
        root = staging / "prefix"
        count = total = 0
        for blob in bucket.list_blobs(prefix=prefix):
            rel = blob.name[len(prefix):]
            if not rel or rel.endswith("/"):
                continue
            total += blob.size or 0
            _too_large(redact(uri), total, max_bytes)
            path = _relative(root, rel, redact(uri))
            path.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(path))
            count += 1
        if count == 0:
            raise ModelNotFound(f"{redact(uri)} not found: no object or prefix {key!r} in bucket {bucket_name!r}")
        return root
    except gexc.NotFound as exc:
        raise ModelNotFound(f"{redact(uri)} not found: bucket {bucket_name!r} does not exist") from exc
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise AccessDenied(
            f"{redact(uri)}: access denied: GCS refused access: check GOOGLE_APPLICATION_CREDENTIALS") from exc
    except gexc.GoogleAPIError as exc:
        # The API's text can quote request URLs: the class and the HTTP code name the cause.
        code = getattr(exc, "code", "") or ""
        raise StorageError(f"{redact(uri)}: GCS error: {type(exc).__name__} {code}".rstrip()) from None
    except auth_exc.GoogleAuthError as exc:
        raise AccessDenied(f"{redact(uri)}: GCS credentials could not be loaded ({type(exc).__name__}): check "
                           "GOOGLE_APPLICATION_CREDENTIALS") from None
