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
  local names=(kube-apiserver kube-controller-manager kube-scheduler) missing=0
  for n in "${names[@]}"; do have "$n" "$K8S_VERSION" || missing=1; done
  [ $missing = 1 ] || { say "kubernetes $K8S_VERSION: cached"; return; }
  say "kubernetes $K8S_VERSION: resolving modules (cold build takes about 10 min on 2 cores)"
  local work="$CACHE/build/kubernetes-$K8S_VERSION"
  mkdir -p "$work"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local patch=${K8S_VERSION##*.}
  {
    echo "module localbuild/kubernetes"
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug ' "$gomod" || true
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    # Every staging module (replaced by ./staging/src/...) maps to its published v0.minor.patch tag.
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v0.'"$minor.$patch"'#p' "$gomod"
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go mod download)
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  say "kubernetes $K8S_VERSION: compiling kube-apiserver, kube-controller-manager, kube-scheduler"
  mkdir -p "$work/out"
  with_heartbeat "kubernetes" bash -c "cd '$work' && go build -mod=mod -tags tools -trimpath -ldflags '$ld' -o out/ \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
  for n in "${names[@]}"; do mv "$work/out/$n" "$BIN/$n-$K8S_VERSION"; done
  say "kubernetes $K8S_VERSION: done"
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
