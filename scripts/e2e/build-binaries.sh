#!/usr/bin/env bash
# Builds the kube-apiserver and etcd that the e2e suite runs against, and the manifest oracle
# (scripts/e2e/manifest-oracle: kubectl's manifest decoding), once per machine, into
#   ${TOLLGATE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/e2e}/k8s-<ver>-etcd-<ver>/bin/
# and prints that k8s-<ver>-etcd-<ver> directory on stdout (progress goes to stderr).
# The versions are the ones pinned in scripts/e2e/wrapper/go.mod (see update-wrapper.sh). The
# oracle is rebuilt when its sources change (a hash of them is kept next to it).
# Needs Go (the version in that go.mod's `go` line, or newer) and the Go module proxy; the first
# build takes 10-25 minutes on 2 cores, later runs only check that the binaries are there.
set -euo pipefail

wrapper_dir=$(cd "$(dirname "$0")/wrapper" && pwd)
oracle_dir=$(cd "$(dirname "$0")/manifest-oracle" && pwd)
pinned() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "${2:-$wrapper_dir/go.mod}"; }
k8s_version=$(pinned k8s.io/kubernetes)
etcd_version=$(pinned go.etcd.io/etcd/server/v3)
go_required=$(awk '$1 == "go" { print $2; exit }' "$wrapper_dir/go.mod")

fail() { echo "build-binaries.sh: $*" >&2; exit 1; }
# The oracle must decode with the YAML code of the release the apiserver is built from.
for module in k8s.io/apimachinery sigs.k8s.io/yaml go.yaml.in/yaml/v2; do
  [[ $(pinned "$module" "$oracle_dir/go.mod") == "$(pinned "$module")" ]] ||
    fail "scripts/e2e/manifest-oracle/go.mod pins $module $(pinned "$module" "$oracle_dir/go.mod"), the wrapper $(pinned "$module"): run scripts/e2e/update-wrapper.sh"
done
oracle_sources=$(cat "$oracle_dir/go.mod" "$oracle_dir/go.sum" "$oracle_dir/main.go" | sha256sum | cut -d' ' -f1)

cache_root=${TOLLGATE_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/e2e}
cache_dir=$cache_root/k8s-${k8s_version}-etcd-${etcd_version}
bin_dir=$cache_dir/bin

oracle_current() { [[ -x $bin_dir/manifest-oracle && $(cat "$bin_dir/manifest-oracle.sources" 2>/dev/null) == "$oracle_sources" ]]; }
have_all() { [[ -x $bin_dir/kube-apiserver && -x $bin_dir/etcd ]] && oracle_current; }
if have_all; then echo "$cache_dir"; exit 0; fi

command -v go >/dev/null ||
  fail "cannot build kube-apiserver ${k8s_version} and etcd ${etcd_version}: 'go' is not on PATH (Go ${go_required} or newer is needed; see test/e2e/README.md)"
go_have=$(go env GOVERSION | sed 's/^go//')
[[ $(printf '%s\n%s\n' "$go_required" "$go_have" | sort -V | head -1) == "$go_required" ]] ||
  fail "Go ${go_have} is too old to build kube-apiserver ${k8s_version}: Go ${go_required} or newer is needed"

mkdir -p "$bin_dir"
# Two suites starting at once must not build twice; the second waits and then finds the binaries.
if command -v flock >/dev/null; then
  exec 9>"$cache_dir/.lock"
  flock 9
  if have_all; then echo "$cache_dir"; exit 0; fi
  rm -f "$bin_dir"/.*.tmp.* # left by a build that was killed outright
fi

minor=${k8s_version#v1.}; minor=${minor%%.*}
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=${k8s_version} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
  version_ldflags+=" -X $pkg.gitTreeState=clean"
done

# Build to a temporary name in the same directory and rename: an interrupted build leaves no file
# under the final name, so it is never mistaken for a finished binary.
build() { # build <name> <package> [extra ldflags] [module dir]
  local name=$1 pkg=$2 extra=${3:-} module_dir=${4:-$wrapper_dir} tmp="$bin_dir/.$1.tmp.$$"
  echo "build-binaries.sh: building $name ($pkg) into $bin_dir ..." >&2
  local start=$SECONDS
  trap "rm -f '$tmp'" EXIT
  (cd "$module_dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w$extra" -o "$tmp" "$pkg")
  mv -f "$tmp" "$bin_dir/$name"
  trap - EXIT
  echo "build-binaries.sh: built $name in $((SECONDS - start)) s" >&2
}
[[ -x $bin_dir/etcd ]] || build etcd go.etcd.io/etcd/server/v3
[[ -x $bin_dir/kube-apiserver ]] || build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$version_ldflags"
# Last: it shares most packages with kube-apiserver, so it builds from that build's cache.
if ! oracle_current; then
  build manifest-oracle . "" "$oracle_dir"
  echo "$oracle_sources" > "$bin_dir/manifest-oracle.sources"
fi

have_all || fail "the build finished but $bin_dir does not hold all three binaries"
echo "$cache_dir"
