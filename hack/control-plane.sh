#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from source through the Go module proxy and caches them outside
# the repository. envtest's release archives cannot be downloaded here, so we compile the same binaries
# from the published modules instead. Prints the directory that holds them (use it as KUBEBUILDER_ASSETS).
#
# k8s.io/kubernetes and go.etcd.io/etcd/server/v3 both carry replace directives in their go.mod, so
# `go install pkg@version` refuses them. A throwaway wrapper module requires them and replaces each
# replaced module with its published version instead.
set -euo pipefail
# replaces and gomod_of, shared with the other wrapper-module build script.
# shellcheck source=hack/wrapper-module.sh
source "$(dirname "${BASH_SOURCE[0]}")/wrapper-module.sh"

K8S_VERSION="${K8S_VERSION:-1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"
OUT="${MMELINK_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmelink/k8s-${K8S_VERSION}}"

log() { echo "control-plane: $*" >&2; }

have() {
  [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kubectl" ] && [ -x "$OUT/etcd" ] &&
    [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "k8s=${K8S_VERSION} etcd=${ETCD_VERSION}" ]
}

if have; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$OUT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0


build_kubernetes() {
  local dir="$work/k8s"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module mmelink.local/controlplane/k8s

go 1.26
MOD
  local gomod
  gomod="$(gomod_of "$dir" "k8s.io/kubernetes@v${K8S_VERSION}")"
  replaces "$gomod" "$STAGING_VERSION" >>"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$dir" && go get "k8s.io/kubernetes@v${K8S_VERSION}" 2>&1 | grep -v '^go: downloading' >&2 || true; go mod tidy 2>&1 | grep -v '^go: downloading' >&2 || true)
  local pkg=k8s.io/component-base/version cgo=k8s.io/client-go/pkg/version ld="-s -w"
  local date
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for p in "$pkg" "$cgo"; do
    ld+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=$(echo "$K8S_VERSION" | cut -d. -f1)"
    ld+=" -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  log "building kube-apiserver and kubectl v${K8S_VERSION} (a few minutes the first time)"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local dir="$work/etcd"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module mmelink.local/controlplane/etcd

go 1.26
MOD
  local gomod
  gomod="$(gomod_of "$dir" "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}")"
  replaces "$gomod" "v${ETCD_VERSION}" >>"$dir/go.mod"
  # etcd's own main lives in the root module; the server module exports the same entry point.
  cat >"$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" 2>&1 | grep -v '^go: downloading' >&2 || true; go mod tidy 2>&1 | grep -v '^go: downloading' >&2 || true)
  log "building etcd v${ETCD_VERSION}"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" .)
}

[ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kubectl" ] && [ "$(cat "$OUT/.stamp-k8s" 2>/dev/null)" = "$K8S_VERSION" ] || {
  build_kubernetes
  echo "$K8S_VERSION" >"$OUT/.stamp-k8s"
}
build_etcd
echo "k8s=${K8S_VERSION} etcd=${ETCD_VERSION}" >"$OUT/.stamp"
log "binaries ready in $OUT"
echo "$OUT"
