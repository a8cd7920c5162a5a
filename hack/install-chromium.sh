#!/usr/bin/env bash
# Headless Chromium for the web page test (tests/integration/web). Debian's package, never
# `playwright install`: that downloads browsers from a CDN, which this project cannot reach.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
command -v chromium
