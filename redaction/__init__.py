"""Secrets out of anything a person can read: the one owner of redaction, for the downloader, the
server and the operator alike (a pure module of its own: the operator may not import the server).

- `redact_uri(uri)`: the URI as messages show it: scheme, host[:port] and path; never the
  user:password@, the query (pre-signed URLs carry their signature there) or the fragment. It
  never raises, whatever the input: a malformed URI is exactly when a message is written.
- `scrub(text, secrets)`: any text (an exception's message, a log line, a termination message)
  with every known secret and every URL-shaped credential replaced by `***`: the known secrets
  are the parts of the URIs involved and the secret-named environment variables
  (`secrets_of(uris, environ)`); the patterns catch what nobody told us (userinfo before an @,
  signature/token/key query parameters), so the operator can scrub what a pod reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "***"
# Shorter values are too likely to match ordinary words ("us", "1").
MIN_SECRET = 4
# Environment variables whose values are credentials: AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
# AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS (a path, but one that may name the key),
# *_PASSWORD, *_PRIVATE_KEY...
_SECRET_ENV = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|(^|_)KEY($|_)|SIGNATURE", re.IGNORECASE)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# name=value where the name says credential (X-Amz-Signature, X-Goog-Credential, sig, token,
# AWSAccessKeyId, password...), anywhere: a URL cut at a space leaves its query as a loose word.
_SECRET_PARAM = re.compile(
    r"(?i)((?:x-amz-|x-goog-)?(?:signature|credential|security-token|sig|token|access_token|password|passwd|"
    r"pwd|secret|key|awsaccesskeyid|googleaccessid)=)[^&\s'\"<>]+")
# user[:password]@host, even outside a well-formed URL ("nonnumeric port: 'PASSWORD@host'").
_USERINFO = re.compile(r"[^\s'\"/@<>]+@(?=[A-Za-z0-9\[])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def redact_uri(uri: str) -> str:
    """scheme://host[:port]/path of a URI; a plain path as it is. Never raises."""
    text = _CONTROL.sub("?", str(uri)).strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced [ in the host
        return "<malformed URI>"
    if not parts.scheme or len(parts.scheme) == 1:  # a path (or a Windows drive letter)
        return _SECRET_PARAM.sub(rf"\1{MASK}", text)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _uri_parts(uri: str) -> list[str]:
    """The secret parts of one URI: user, password, every query value, the fragment."""
    text = str(uri)
    found: list[str] = []
    netloc = text.split("://", 1)[1].split("/", 1)[0] if "://" in text else ""
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        found += [userinfo, *userinfo.split(":", 1)]
    query = text.split("?", 1)[1] if "?" in text else ""
    query, _, fragment = query.partition("#")
    if query:
        found.append(query)
        found += [v for _, v in parse_qsl(query, keep_blank_values=True)]
        found += [p.partition("=")[2] for p in re.split(r"[&;]", query)]
    if fragment:
        found.append(fragment)
    return found


def secrets_of(uris: Iterable[str | None] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """Every value worth hiding: the secret parts of these URIs, the values of secret-named
    environment variables and the secret parts of URL-valued ones (an endpoint with a password)."""
    found: list[str] = []
    for uri in uris:
        if uri:
            found += _uri_parts(uri)
    for name, value in (environ or {}).items():
        if _SECRET_ENV.search(name):
            found.append(value)
        elif "://" in value:
            found += _uri_parts(value)
    variants = {form for s in found for form in (s, quote(s, safe=""), unquote(s), quote(s)) if len(form) >= MIN_SECRET}
    return sorted(variants, key=len, reverse=True)  # longest first: a secret containing another


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """text with the known secrets and every credential-shaped pattern masked."""
    out = str(text)
    for secret in secrets:
        if len(secret) >= MIN_SECRET:
            out = out.replace(secret, MASK)
    out = _URL.sub(lambda m: redact_uri(m.group(0)), out)
    out = _SECRET_PARAM.sub(rf"\1{MASK}", out)
    return _USERINFO.sub(f"{MASK}@", out)
