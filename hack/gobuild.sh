# Sourced by the scripts that build pinned Go tools into the cache (install-tools.sh,
# install-argocd.sh): where they go, how they are built, and progress while they build.
# Set TOOL before sourcing: it names the script in every progress line.
# shellcheck source=hack/versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"
CACHE="${DETECTOR_CACHE:-$HOME/.cache/detector-operator}"
BIN="$CACHE/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN"

start=$SECONDS
say() { printf '[%s +%4ds] %s\n' "$TOOL" $((SECONDS - start)) "$*"; }

# A heartbeat every 30 s while a long build runs, so a cold build never looks hung.
with_heartbeat() {
  local label=$1; shift
  ( while sleep 30; do say "still building $label ..."; done ) &
  local hb=$!
  if "$@"; then kill $hb 2>/dev/null; wait $hb 2>/dev/null || true
  else local rc=$?; kill $hb 2>/dev/null; wait $hb 2>/dev/null || true; return $rc; fi
}
