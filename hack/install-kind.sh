#!/usr/bin/env bash
# Builds what the project's kind cluster needs (hack/localkind, `make kind-up`) from the Go module
# proxy into ~/.cache/detector-operator/bin, keyed by version (hack/versions.env), each only when
# missing, so a warm run is instant:
#   kind; containerd, ctr and the runc shim (the node's runtime); kubelet, kubeadm, kube-proxy and
#   kubectl (the node's Kubernetes, same version as the control plane); CoreDNS (cluster DNS);
#   a pause program (the pod sandbox); the distribution registry (images for the nodes);
#   kube-network-policies (NetworkPolicy enforcement), with the project's patch applied, keyed by
#   version and the patch's hash.
# Installs the Debian packages the node image and the podman provider need when missing.
# Usage: hack/install-kind.sh [--no-kubernetes]   (--no-kubernetes: skip the k8s.io/kubernetes build)
set -euo pipefail

TOOL=install-kind
# shellcheck source=hack/gobuild.sh
source "$(dirname "$0")/gobuild.sh"

have() { [ -x "$BIN/$1-$2" ]; }

# go install of each package at its version, renamed to <name>-<version> in $BIN.
go_install() {
  local label=$1 version=$2 tags=$3; shift 3
  local gobin="$CACHE/build/$label-$version" pkg
  mkdir -p "$gobin"
  say "$label $version: building ($*)"
  with_heartbeat "$label" env GOBIN="$gobin" go install -tags "$tags" -trimpath -ldflags "-s -w" "$@"
}

build_kind() {
  have kind "$KIND_VERSION" && { say "kind $KIND_VERSION: cached"; return; }
  go_install kind "$KIND_VERSION" "" "sigs.k8s.io/kind@$KIND_VERSION"
  mv "$CACHE/build/kind-$KIND_VERSION/kind" "$BIN/kind-$KIND_VERSION"
  # kind's node-image files (entrypoint, systemd units, containerd config) come from its module source.
  local src
  src=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$CACHE/kind-base-files-$KIND_VERSION"
  cp -r "$src/images/base/files" "$CACHE/kind-base-files-$KIND_VERSION"
  chmod -R u+w "$CACHE/kind-base-files-$KIND_VERSION"
  say "kind $KIND_VERSION: done"
}

build_containerd() {
  local n missing=0
  for n in containerd ctr containerd-shim-runc-v2; do have $n "$CONTAINERD_VERSION" || missing=1; done
  [ $missing = 1 ] || { say "containerd $CONTAINERD_VERSION: cached"; return; }
  local m="github.com/containerd/containerd/v2/cmd"
  # The storage drivers kind's nodes never use stay out (they need cgo headers).
  go_install containerd "$CONTAINERD_VERSION" "no_btrfs no_devmapper no_zfs" \
    "$m/containerd@$CONTAINERD_VERSION" "$m/ctr@$CONTAINERD_VERSION" "$m/containerd-shim-runc-v2@$CONTAINERD_VERSION"
  for n in containerd ctr containerd-shim-runc-v2; do
    mv "$CACHE/build/containerd-$CONTAINERD_VERSION/$n" "$BIN/$n-$CONTAINERD_VERSION"
  done
  say "containerd $CONTAINERD_VERSION: done"
}

build_coredns() {
  have coredns "$COREDNS_VERSION" && { say "coredns $COREDNS_VERSION: cached"; return; }
  go_install coredns "$COREDNS_VERSION" "" "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$CACHE/build/coredns-$COREDNS_VERSION/coredns" "$BIN/coredns-$COREDNS_VERSION"
  say "coredns $COREDNS_VERSION: done"
}

build_registry() {
  have registry "$DISTRIBUTION_VERSION" && { say "registry $DISTRIBUTION_VERSION: cached"; return; }
  go_install registry "$DISTRIBUTION_VERSION" "" \
    "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
  mv "$CACHE/build/registry-$DISTRIBUTION_VERSION/registry" "$BIN/registry-$DISTRIBUTION_VERSION"
  say "registry $DISTRIBUTION_VERSION: done"
}

# The pod sandbox's only job is to hold the pod's namespaces and reap zombies until it is told to
# stop; Kubernetes' own pause is a few lines of C. This is the same in Go, static, no module needed.
PAUSE_VERSION=3.10-local1
build_pause() {
  have pause "$PAUSE_VERSION" && { say "pause $PAUSE_VERSION: cached"; return; }
  local work="$CACHE/build/pause-$PAUSE_VERSION"
  mkdir -p "$work"
  cat > "$work/main.go" <<'GO'
// pause: holds a pod's namespaces until SIGINT or SIGTERM, reaping orphaned children meanwhile.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
GO
  printf 'module localbuild/pause\n\ngo 1.22\n' > "$work/go.mod"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$BIN/pause-$PAUSE_VERSION" .)
  say "pause $PAUSE_VERSION: done"
}

# kube-network-policies queues packets with the nftables `queue` expression, which this kernel
# lacks (CONFIG_NFT_QUEUE unset); the patch makes it queue through the iptables NFQUEUE target.
# The binary's name carries the first 12 hex digits of the patch's sha256 (hack/localkind/versions.py
# computes the same), so an edited patch is a new build.
KNP_PATCH="$(cd "$(dirname "$0")" && pwd)/localkind/patches/kube-network-policies-$KNP_VERSION-iptables-nfqueue.patch"
build_knp() {
  local key name
  key=$(sha256sum "$KNP_PATCH" | cut -c1-12)
  name="kube-network-policies-$KNP_VERSION-$key"
  [ -x "$BIN/$name" ] && { say "kube-network-policies $KNP_VERSION (patch $key): cached"; return; }
  local src work="$CACHE/build/$name"
  src=$(go mod download -json "sigs.k8s.io/kube-network-policies@$KNP_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  rm -rf "$work"
  cp -r "$src" "$work"
  chmod -R u+w "$work"
  (cd "$work" && patch -p1 --quiet --forward < "$KNP_PATCH")
  say "kube-network-policies $KNP_VERSION (patch $key): building"
  with_heartbeat kube-network-policies bash -c "cd '$work' && go build -trimpath -ldflags '-s -w' -o '$BIN/$name' ./cmd"
  rm -rf "$work"
  say "kube-network-policies $KNP_VERSION (patch $key): done"
}

install_debian() {
  # buildah/podman/runc: the node image and the podman provider; mmdebstrap: the node's rootfs;
  # containernetworking-plugins: the bridge CNI on the nodes (host-local, loopback, portmap too);
  # dnsname: container names on the kind network.
  local missing=() cmd
  declare -A pkg=([buildah]=buildah [podman]=podman [runc]=runc [mmdebstrap]=mmdebstrap
                  [catatonit]=catatonit [iptables]=iptables)
  for cmd in "${!pkg[@]}"; do command -v "$cmd" >/dev/null || missing+=("${pkg[$cmd]}"); done
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  # Node names on the kind network (workers join `<cluster>-control-plane:6443`): podman's CNI
  # backend resolves container names only with the dnsname plugin.
  [ -x /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
  [ ${#missing[@]} = 0 ] && { say "Debian packages: installed"; return; }
  apt_install "${missing[@]}"
}

install_debian
build_kind
build_pause
build_containerd
build_coredns
build_registry
build_knp
if [ "${1:-}" != "--no-kubernetes" ]; then
  build_kubernetes_commands kubelet kubeadm kube-proxy kubectl
fi
say "kind parts are in $BIN"
