#!/usr/bin/env bash
# Builds the pinned Argo CD parts the GitOps tests and the demo run as local processes: one
# multi-call binary (argocd-application-controller, argocd-repo-server, argocd-git-ask-pass),
# kustomize for the repo server, and Argo CD's own CRDs; installs Debian's redis-server and
# git-daemon when missing. Cached in ~/.cache/detector-operator keyed by version, built only
# when missing, so a warm run is instant.
# Why a wrapper module: argo-cd's go.mod carries `replace` directives, so `go install
# pkg@version` refuses it; a module that requires it and copies its replace block builds it.
# Importing only the controller, repo-server and ask-pass commands keeps the API server's UI
# (an embedded web app) out of the binary.
set -euo pipefail

TOOL=install-argocd
# shellcheck source=hack/gobuild.sh
source "$(dirname "$0")/gobuild.sh"

build_argocd() {
  local out="$BIN/argocd-$ARGOCD_VERSION" crds="$CACHE/argocd-crds-$ARGOCD_VERSION"
  if [ -x "$out" ] && [ -f "$crds/application-crd.yaml" ]; then say "argocd $ARGOCD_VERSION: cached"; return; fi
  say "argocd $ARGOCD_VERSION: resolving modules (cold build takes about 6 min on 2 cores)"
  local work="$CACHE/build/argocd-$ARGOCD_VERSION" info gomod dir
  mkdir -p "$work"
  info=$(go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION")
  gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$info")
  dir=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")
  {
    echo "module localbuild/argocd"
    grep -E '^go [0-9]' "$gomod"
    echo "require github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION"
    # The release's own replace block, verbatim (it pins forks the release was built with).
    sed -n '/^replace (/,/^)/p' "$gomod"
    grep -E '^replace [^(]' "$gomod" || true
  } > "$work/go.mod"
  # Upstream cmd/main.go dispatches on the binary's name; this does the same for three of them.
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	controller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	askpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
)

func main() {
	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case "argocd-application-controller":
		command = controller.NewCommand()
	case "argocd-repo-server":
		command = reposerver.NewCommand()
	case "argocd-git-ask-pass":
		command = askpass.NewCommand()
	default:
		os.Stderr.WriteString("unknown Argo CD command " + name + "\n")
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
GO
  (cd "$work" && go mod tidy >/dev/null)
  say "argocd $ARGOCD_VERSION: compiling (one multi-call binary)"
  with_heartbeat "argocd" bash -c "cd '$work' && go build -p=2 -trimpath \
    -ldflags '-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}' -o '$out.tmp' ."
  mv "$out.tmp" "$out"
  rm -rf "$crds"; mkdir -p "$crds"
  cp "$dir/manifests/crds/application-crd.yaml" "$dir/manifests/crds/appproject-crd.yaml" "$crds/"
  chmod -R u+w "$crds"
  say "argocd $ARGOCD_VERSION: done"
}

build_kustomize() {
  local out="$BIN/kustomize-$KUSTOMIZE_VERSION"
  [ -x "$out" ] && { say "kustomize $KUSTOMIZE_VERSION: cached"; return; }
  say "kustomize $KUSTOMIZE_VERSION: building"
  local gobin="$CACHE/build/kustomize-$KUSTOMIZE_VERSION"
  mkdir -p "$gobin"
  with_heartbeat "kustomize" env GOBIN="$gobin" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  mv "$gobin/kustomize" "$out"
  say "kustomize $KUSTOMIZE_VERSION: done"
}

install_debian() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/lib/git-core/git-daemon ] || missing+=(git)
  [ ${#missing[@]} = 0 ] && { say "redis-server, git-daemon: installed"; return; }
  apt_install "${missing[@]}"
}

install_debian
build_kustomize
build_argocd
say "Argo CD parts are in $BIN"
