# Shared by hack/control-plane.sh and hack/node.sh, which build Kubernetes' and etcd's commands through
# throwaway wrapper modules. Sourced, not run.

# replaces rewrites a module's "replace X => ./local/path" lines into "replace X => X VERSION". Paths that
# only guard against bad imports (etcd's ./FORBIDDEN_DEPENDENCY) are dropped.
replaces() {
  local gomod="$1" version="$2"
  awk -v v="$version" '
    /^replace \(/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    /FORBIDDEN/ { next }
    inblock && $2 == "=>" && $3 ~ /^\.\.?\// { printf "replace %s => %s %s\n", $1, $1, v; next }
    /^replace / && $3 == "=>" && $4 ~ /^\.\.?\// { printf "replace %s => %s %s\n", $2, $2, v }
  ' "$gomod"
}

# gomod_of prints the path of MODULE@VERSION's go.mod in the module cache, downloaded from DIR's module.
gomod_of() {
  (cd "$1" && go mod download -json "$2" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
}
