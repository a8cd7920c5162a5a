#!/usr/bin/env bash
# Builds the pinned control-plane binaries from the Go module proxy into a cache outside the
# work tree, keyed by version. Each binary is built only when missing, so a warm run is instant.
# Why wrapper modules: k8s.io/kubernetes and etcd's server module carry `replace ../` directives,
# so `go install pkg@version` refuses them (golang/go#44840); a wrapper that pins every staging
# module to its published tag builds them as ordinary dependencies.
set -euo pipefail

TOOL=install-tools
# shellcheck source=hack/gobuild.sh
source "$(dirname "$0")/gobuild.sh"

have() { [ -x "$BIN/$1-$2" ]; }

build_kubernetes() {
  build_kubernetes_commands kube-apiserver kube-controller-manager kube-scheduler
}

build_etcd() {
  have etcd "$ETCD_VERSION" && { say "etcd $ETCD_VERSION: cached"; return; }
  say "etcd $ETCD_VERSION: building"
  local work="$CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  local gomod
  gomod=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module localbuild/etcd"
    grep -E '^go [0-9]' "$gomod"
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo "replace ("
    # Sibling modules replaced by ../ paths map to the same release tag.
    sed -n 's#^\s*\(go.etcd.io/etcd/[a-z0-9/]*\) => \.\./.*#\t\1 => \1 '"$ETCD_VERSION"'#p' "$gomod"
    echo ")"
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$work/tools.go"
  (cd "$work" && go mod tidy -e >/dev/null 2>&1 || true)
  with_heartbeat "etcd" bash -c "cd '$work' && go build -mod=mod -trimpath -ldflags '-s -w' -o '$BIN/etcd-$ETCD_VERSION' go.etcd.io/etcd/server/v3"
  say "etcd $ETCD_VERSION: done"
}

build_kwok() {
  have kwok "$KWOK_VERSION" && { say "kwok $KWOK_VERSION: cached"; return; }
  say "kwok $KWOK_VERSION: building"
  local gobin="$CACHE/build/kwok-$KWOK_VERSION"
  mkdir -p "$gobin"
  with_heartbeat "kwok" env GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$gobin/kwok" "$BIN/kwok-$KWOK_VERSION"
  # kwok's own stage definitions (node heartbeat, pod ready...) ship in the module source.
  local src
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$CACHE/kwok-stages-$KWOK_VERSION"; cp -r "$src/kustomize/stage" "$CACHE/kwok-stages-$KWOK_VERSION"
  chmod -R u+w "$CACHE/kwok-stages-$KWOK_VERSION"
  say "kwok $KWOK_VERSION: done"
}

build_etcd
build_kwok
build_kubernetes
say "all control-plane binaries are in $BIN"
