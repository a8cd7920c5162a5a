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
# Debian packages by name (root, or sudo); `apt-get update` only when the first try finds nothing.
apt_install() {
  say "installing Debian packages: $*"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null \
    || { $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

with_heartbeat() {
  local label=$1; shift
  ( while sleep 30; do say "still building $label ..."; done ) &
  local hb=$!
  if "$@"; then kill $hb 2>/dev/null; wait $hb 2>/dev/null || true
  else local rc=$?; kill $hb 2>/dev/null; wait $hb 2>/dev/null || true; return $rc; fi
}

# Builds k8s.io/kubernetes commands at K8S_VERSION into $BIN/<name>-$K8S_VERSION, each only when
# missing. k8s.io/kubernetes carries `replace ./staging/...` directives, so `go install
# pkg@version` refuses it (golang/go#44840); a wrapper module that pins every staging module to
# its published v0.minor.patch tag builds the commands as ordinary dependencies. One wrapper per
# set of commands (install-tools: the control plane; install-kind: the node's), sharing the cache.
build_kubernetes_commands() {
  local names=("$@") missing=0 n
  for n in "${names[@]}"; do [ -x "$BIN/$n-$K8S_VERSION" ] || missing=1; done
  [ $missing = 1 ] || { say "kubernetes $K8S_VERSION (${names[*]}): cached"; return; }
  say "kubernetes $K8S_VERSION: resolving modules for ${names[*]} (cold build takes about 10 min on 2 cores)"
  local work="$CACHE/build/kubernetes-$K8S_VERSION-${names[0]}"
  mkdir -p "$work"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  {
    echo "module localbuild/kubernetes"
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug ' "$gomod" || true
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v0.'"$minor.${K8S_VERSION##*.}"'#p' "$gomod"
    echo ")"
  } > "$work/go.mod"
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for n in "${names[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$n"; done
    printf ')\n'; } > "$work/tools.go"
  (cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go mod download)
  local ld="-s -w" pkg pkgs=()
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  say "kubernetes $K8S_VERSION: compiling ${names[*]}"
  mkdir -p "$work/out"
  with_heartbeat "kubernetes (${names[*]})" bash -c "cd '$work' && go build -mod=mod -tags tools -trimpath -ldflags '$ld' -o out/ ${pkgs[*]}"
  for n in "${names[@]}"; do mv "$work/out/$n" "$BIN/$n-$K8S_VERSION"; done
  say "kubernetes $K8S_VERSION: ${names[*]} done"
}
