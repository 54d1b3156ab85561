#!/usr/bin/env bash
# Builds what a one-node cluster needs beside hack/control-plane.sh's kube-apiserver, etcd and kubectl:
# kubelet, kube-controller-manager, kube-scheduler and kube-proxy, containerd v2 (containerd,
# containerd-shim-runc-v2, ctr) and the CNI plugins bridge, host-local, loopback and portmap, all from the
# Go module proxy, and caches them outside the repository. Prints the directory that holds them; the CNI
# plugins are in its cni/ subdirectory. runc comes from the distribution (apt-get install runc).
#
# The same throwaway wrapper modules as hack/control-plane.sh: k8s.io/kubernetes carries replace directives
# (its staging modules), so `go install pkg@version` refuses it; the wrapper replaces each with its
# published version. containerd and the CNI plugins get a wrapper each, so their dependency graphs never
# have to agree with Kubernetes'.
set -euo pipefail
# replaces and gomod_of, shared with the other wrapper-module build script.
# shellcheck source=hack/wrapper-module.sh
source "$(dirname "${BASH_SOURCE[0]}")/wrapper-module.sh"

K8S_VERSION="${K8S_VERSION:-1.37.1}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-2.4.2}"
CNI_PLUGINS_VERSION="${CNI_PLUGINS_VERSION:-1.10.0}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"
OUT="${MMELINK_NODE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmelink/node-${K8S_VERSION}}"

log() { echo "node: $*" >&2; }

stamp_k8s="k8s=${K8S_VERSION}"
stamp_ctr="containerd=${CONTAINERD_VERSION}"
stamp_cni="cni=${CNI_PLUGINS_VERSION}"
have() { [ "$(cat "$OUT/.stamp-$1" 2>/dev/null)" = "$2" ]; }

if have k8s "$stamp_k8s" && have containerd "$stamp_ctr" && have cni "$stamp_cni"; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$OUT/cni"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0


# wrapper DIR MODULE@VERSION PKG... writes a module (unless DIR/go.mod exists) that imports PKG... and
# requires MODULE@VERSION.
wrapper() {
  local dir="$1" mod="$2"
  shift 2
  mkdir -p "$dir"
  [ -f "$dir/go.mod" ] || printf 'module mmelink.local/node/%s\n\ngo 1.26\n' "$(basename "$dir")" >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/tools.go"
  (cd "$dir" && go get "$mod" 2>&1 | grep -v '^go: downloading' >&2 || true)
}

tidy() { (cd "$1" && go mod tidy 2>&1 | grep -v '^go: downloading' >&2 || true); }

build_kubernetes() {
  local dir="$work/k8s" gomod
  local cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy)
  local pkgs=("${cmds[@]/#/k8s.io/kubernetes/cmd/}")
  mkdir -p "$dir"
  printf 'module mmelink.local/node/k8s\n\ngo 1.26\n' >"$dir/go.mod"
  gomod="$(gomod_of "$dir" "k8s.io/kubernetes@v${K8S_VERSION}")"
  replaces "$gomod" "$STAGING_VERSION" >>"$dir/go.mod"
  wrapper "$dir" "k8s.io/kubernetes@v${K8S_VERSION}" "${pkgs[@]}"
  tidy "$dir"
  local ld="-s -w" date p
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=$(echo "$K8S_VERSION" | cut -d. -f1)"
    ld+=" -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  log "building ${cmds[*]} v${K8S_VERSION} (long the first time)"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$OUT/" "${pkgs[@]}")
}

build_containerd() {
  local dir="$work/containerd" m=github.com/containerd/containerd/v2
  local cmds=(containerd containerd-shim-runc-v2 ctr)
  wrapper "$dir" "$m@v${CONTAINERD_VERSION}" "${cmds[@]/#/$m/cmd/}"
  tidy "$dir"
  log "building ${cmds[*]} v${CONTAINERD_VERSION}"
  # CGO off leaves out the btrfs snapshotter (its builtins file asks for cgo); overlayfs and native remain.
  local ld="-s -w -X $m/version.Version=v${CONTAINERD_VERSION} -X $m/version.Package=$m"
  (cd "$dir" && go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" -o "$OUT/" "${cmds[@]/#/$m/cmd/}")
}

build_cni() {
  local dir="$work/cni" m=github.com/containernetworking/plugins
  local pkgs=("$m/plugins/main/bridge" "$m/plugins/ipam/host-local" "$m/plugins/main/loopback" "$m/plugins/meta/portmap")
  wrapper "$dir" "$m@v${CNI_PLUGINS_VERSION}" "${pkgs[@]}"
  tidy "$dir"
  log "building CNI plugins bridge, host-local, loopback, portmap v${CNI_PLUGINS_VERSION}"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v${CNI_PLUGINS_VERSION}" -o "$OUT/cni/" "${pkgs[@]}")
}

have cni "$stamp_cni" || { build_cni && echo "$stamp_cni" >"$OUT/.stamp-cni"; }
have containerd "$stamp_ctr" || { build_containerd && echo "$stamp_ctr" >"$OUT/.stamp-containerd"; }
have k8s "$stamp_k8s" || { build_kubernetes && echo "$stamp_k8s" >"$OUT/.stamp-k8s"; }
log "binaries ready in $OUT"
echo "$OUT"
