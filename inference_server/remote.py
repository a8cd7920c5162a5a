"""One small fetcher per remote scheme. Each fetches a URI into a staging directory and returns the
local path: a single file (maybe an archive) or a directory (an s3/gs prefix)."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse


class FetchError(Exception):
    pass


class NotFound(FetchError):
    pass


class AccessDenied(FetchError):
    pass


def fetch_http(uri: str, staging: Path) -> Path:
    target = staging / (Path(urlparse(uri).path).name or "download")
    try:
        with urllib.request.urlopen(uri, timeout=60) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound("HTTP 404: nothing at that address") from exc
        if exc.code in (401, 403):
            raise AccessDenied(f"HTTP {exc.code}: the server refused access") from exc
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"cannot reach the server: {getattr(exc, 'reason', exc)}") from exc
    return target


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
            raise NotFound(f"no object or prefix {key!r} in bucket {bucket!r}")
        return root
    except ClientError as exc:
        code = _s3_code(exc)
        if code in ("NoSuchBucket", "404", "NoSuchKey"):
            raise NotFound(f"bucket {bucket!r} or key {key!r} does not exist ({code})") from exc
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            raise AccessDenied(f"S3 refused access ({code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from exc
        raise FetchError(f"S3 error {code}") from exc
    except BotoCoreError as exc:
        raise FetchError(f"S3: {exc}") from exc


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
            raise NotFound(f"no object or prefix {key!r} in bucket {bucket_name!r}")
        return root
    except gexc.NotFound as exc:
        raise NotFound(f"bucket {bucket_name!r} does not exist") from exc
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise AccessDenied("GCS refused access: check GOOGLE_APPLICATION_CREDENTIALS") from exc
    except gexc.GoogleAPIError as exc:
        raise FetchError(f"GCS error: {exc}") from exc
