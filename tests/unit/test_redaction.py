"""redaction: the one owner of what a credential looks like in a message, for the downloader,
the server and the operator."""
from __future__ import annotations

import pytest

from redaction import redact_uri, scrub, secrets_of

SIG = "5ec7e75167a7"


@pytest.mark.parametrize("uri,shown", [
    ("http://alice:PASSWORD123@host/m.tar.gz", "http://host/m.tar.gz"),
    ("http://alice:PASSWORD123@host:80x/m.tar.gz", "http://host:80x/m.tar.gz"),  # a bad port: never raises
    (f"https://b.s3.amazonaws.com/m tar.gz?X-Amz-Signature={SIG}", "https://b.s3.amazonaws.com/m tar.gz"),
    (f"https://h/m.tar.gz?X-Goog-Signature={SIG}#frag", "https://h/m.tar.gz"),
    (f"https://h/m.tar.gz\t?sig={SIG}\n", "https://h/m.tar.gz"),
    ("http://[::1/m", "<malformed URI>"),
    ("gs://bucket/zoo/ssd.tar.gz", "gs://bucket/zoo/ssd.tar.gz"),
    ("/models/ssd", "/models/ssd"),
])
def test_a_uri_is_shown_without_userinfo_query_or_fragment(uri, shown):
    assert redact_uri(uri) == shown


@pytest.mark.parametrize("text", [
    "InvalidURL: nonnumeric port: 'PASSWORD123@host'",  # urllib's own words, no URL shape left
    f"URL can't contain control characters. '/m tar.gz?X-Amz-Algorithm=AWS4&X-Amz-Signature={SIG}'",
    f"failed: https://alice:PASSWORD123@h/m?X-Amz-Signature={SIG} refused",
    f"GET /m.tar.gz?sv=2024&sig={SIG}&se=2030",
    f"token={SIG} password=PASSWORD123",
])
def test_credentials_are_masked_by_their_shape_even_unannounced(text):
    out = scrub(text)
    assert "PASSWORD123" not in out and SIG not in out, out


def test_known_secrets_from_uris_and_env_are_masked_in_any_form():
    uri = f"http://alice:PASSWORD123@h/m.tar.gz?X-Amz-Credential=AKID%2F2026&custom={SIG}"
    env = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENG", "AWS_SESSION_TOKEN": "tok3nS3SS10N",
           "AWS_ENDPOINT_URL_S3": "http://minio:m1n10pass@minio:9000", "AWS_DEFAULT_REGION": "us-east-1"}
    secrets = secrets_of([uri, None], env)
    text = (f"custom {SIG} key wJalrXUtnFEMIK7MDENG tok3nS3SS10N m1n10pass AKID/2026 AKID%2F2026 "
            "region us-east-1")
    out = scrub(text, secrets)
    for secret in ("PASSWORD123", SIG, "wJalrXUtnFEMIK7MDENG", "tok3nS3SS10N", "m1n10pass", "AKID/2026", "AKID%2F2026"):
        assert secret not in out, (secret, out)
    assert "us-east-1" in out  # not a secret-named variable: left alone


def test_plain_messages_are_left_alone():
    text = "model download failed: gs://models/m.tar.gz not found: no object or prefix 'm.tar.gz'"
    assert scrub(text) == text
