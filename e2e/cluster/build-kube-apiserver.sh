#!/usr/bin/env bash
# Build kube-apiserver (and kubectl when no other kubectl is available) from Debian's
# `kubernetes` source package (1.20.2, with its vendor tree) using Debian's Go, into
#   ${BERTH_CACHE_DIR:-$HOME/.cache/berth}/bin/
# The binary is reused while its stamp file (bin/kube-apiserver.stamp) matches this recipe,
# Go's version and the two swapped-in Debian Go packages; otherwise it is rebuilt.
#
# Recipe:
#   apt-get source kubernetes                       (deb-src must be enabled: install-deps.sh)
#   vendor/github.com/modern-go/reflect2  <- /usr/share/gocode/src/github.com/modern-go/reflect2
#   vendor/github.com/json-iterator/go   <- /usr/share/gocode/src/github.com/json-iterator/go
#     (reflect2 1.0.1 / json-iterator 1.1.10 as vendored crash at run time on Go >= 1.18:
#      reflect2 relies on runtime internals that changed; Debian's 1.0.2 / 1.1.12 work.)
#   make WHAT=cmd/kube-apiserver   (the tree's own build: GOPATH mode, GO111MODULE=off with
#     its vendor/ directory, as hack/lib/init.sh forces; so GOFLAGS=-mod=vendor is not used)
# The build runs in a temp dir under the cache dir, which is removed after a successful build
# (the unpacked tree is ~1.5 GB). GOCACHE is kept in the cache dir (go-build/) so a rebuild
# after a recipe change is quicker; delete it freely.
#
# Env:
#   BERTH_CACHE_DIR        cache dir (default $HOME/.cache/berth)
#   BERTH_BUILD_KUBECTL=1  also build kubectl (done anyway when install-deps.sh found no kubectl)
#   BERTH_KEEP_BUILD=1     keep the build tree (for debugging)
#   GOMAXPROCS             passed through (default: unset, i.e. all cores)
# Prints the bin dir on stdout when done; progress goes to stderr.
set -euo pipefail

RECIPE_VERSION=1   # bump when the recipe below changes

log() { printf '[build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '[build] ERROR: %s\n' "$*" >&2; exit 1; }

CACHE_DIR="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
BIN_DIR="$CACHE_DIR/bin"
mkdir -p "$BIN_DIR"

want_kubectl=0
if [[ "${BERTH_BUILD_KUBECTL:-0}" == "1" || -e "$CACHE_DIR/need-kubectl-build" ]]; then
  want_kubectl=1
fi

command -v go >/dev/null 2>&1 || die "go not found (run e2e/cluster/install-deps.sh)"
GO_VERSION="$(GOFLAGS='' GO111MODULE=off go version)" || die "'go version' failed"

REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
JSONITER_SRC=/usr/share/gocode/src/github.com/json-iterator/go
[[ -d "$REFLECT2_SRC" ]] || die "$REFLECT2_SRC missing (apt-get install golang-github-modern-go-reflect2-dev)"
[[ -d "$JSONITER_SRC" ]] || die "$JSONITER_SRC missing (apt-get install golang-github-json-iterator-go-dev)"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }

STAMP_WANT="recipe=$RECIPE_VERSION; $GO_VERSION; reflect2=$(pkgver golang-github-modern-go-reflect2-dev); json-iterator=$(pkgver golang-github-json-iterator-go-dev)"

up_to_date() {
  local name="$1"
  [[ -x "$BIN_DIR/$name" && -f "$BIN_DIR/$name.stamp" ]] && [[ "$(cat "$BIN_DIR/$name.stamp")" == "$STAMP_WANT" ]]
}

needed() {
  local out=()
  up_to_date kube-apiserver || out+=(kube-apiserver)
  if [[ "$want_kubectl" == 1 ]] && ! up_to_date kubectl; then out+=(kubectl); fi
  if [[ "${#out[@]}" -gt 0 ]]; then printf '%s\n' "${out[@]}"; fi
}

# One build at a time per cache dir (concurrent wrappers wait for the first one's result).
exec 9>"$CACHE_DIR/build.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_DIR/build.lock; waiting for it"
  flock 9
fi

mapfile -t TARGETS < <(needed)
if [[ "${#TARGETS[@]}" -eq 0 ]]; then
  log "cached: $BIN_DIR/kube-apiserver ($(cat "$BIN_DIR/kube-apiserver.stamp"))"
  printf '%s\n' "$BIN_DIR"
  exit 0
fi

log "building ${TARGETS[*]} (first build takes several minutes; log: $CACHE_DIR/build.log)"
for t in rsync make apt-get dpkg-source flock; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (run e2e/cluster/install-deps.sh)"
done

# Remove build trees left behind by interrupted earlier builds (we hold the lock).
find "$CACHE_DIR" -maxdepth 1 -type d -name 'build.*' -exec rm -rf {} + 2>/dev/null || true

WORK="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
MAKE_PID=""
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  if [[ -n "$MAKE_PID" ]] && kill -0 "$MAKE_PID" 2>/dev/null; then
    kill -TERM -- "-$MAKE_PID" 2>/dev/null || true   # make runs in its own process group
  fi
  if [[ "${BERTH_KEEP_BUILD:-0}" == "1" ]]; then
    log "keeping build tree $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

START=$SECONDS
log "apt-get source kubernetes -> $WORK"
(cd "$WORK" && apt-get source -qq kubernetes) >"$CACHE_DIR/build.log" 2>&1 \
  || { tail -n 20 "$CACHE_DIR/build.log" >&2; die "apt-get source kubernetes failed (is deb-src enabled? run install-deps.sh)"; }
SRC=""
for d in "$WORK"/kubernetes-*/; do
  [[ -f "$d/Makefile" ]] && SRC="${d%/}"
done
[[ -n "$SRC" ]] || die "unpacked kubernetes source tree not found in $WORK"
log "source: $(basename "$SRC") (unpacked in $((SECONDS - START))s)"

log "swapping vendor/github.com/modern-go/reflect2 and vendor/github.com/json-iterator/go for Debian's"
for pair in "$REFLECT2_SRC:vendor/github.com/modern-go/reflect2" "$JSONITER_SRC:vendor/github.com/json-iterator/go"; do
  from="${pair%%:*}"; to="$SRC/${pair#*:}"
  [[ -d "$to" ]] || die "expected vendored package $to"
  rm -rf "$to"
  mkdir -p "$to"
  # Only the package sources: no tests, no go.mod/go.sum (vendor dirs carry none).
  rsync -a --exclude='*_test.go' --exclude='go.mod' --exclude='go.sum' \
    --exclude='.git*' --exclude='testdata/' --exclude='*/' --include='*' \
    "$from/" "$to/"
done
# reflect2 >= 1.0.2 no longer imports github.com/modern-go/concurrent; json-iterator still does
# and it is vendored already. Check both packages' imports resolve inside the tree below.

# GOCACHE: hack/lib/golang.sh forces ${KUBE_GOPATH}/cache (inside the tree we delete);
# point it at the cache dir instead.
GOCACHE_DIR="$CACHE_DIR/go-build"
mkdir -p "$GOCACHE_DIR"
export BERTH_GOCACHE="$GOCACHE_DIR"
# shellcheck disable=SC2016  # literal shell text for the tree's script
sed -i 's|^  export GOCACHE="${KUBE_GOPATH}/cache"$|  export GOCACHE="${BERTH_GOCACHE:-${KUBE_GOPATH}/cache}"|' "$SRC/hack/lib/golang.sh"
grep -q 'BERTH_GOCACHE' "$SRC/hack/lib/golang.sh" || die "could not redirect GOCACHE in hack/lib/golang.sh"

WHAT=""
for t in "${TARGETS[@]}"; do WHAT+="cmd/$t "; done
WHAT="${WHAT% }"

log "go: $GO_VERSION; make WHAT=\"$WHAT\""
# setsid: make and the go builds get their own process group, which cleanup() can stop whole.
# shellcheck disable=SC2016  # the script text is expanded by the inner bash
setsid bash -c '
  cd "$1"
  unset GOFLAGS GOPATH GOBIN
  export CGO_ENABLED=0
  exec make WHAT="$2"
' berth-make "$SRC" "$WHAT" </dev/null >>"$CACHE_DIR/build.log" 2>&1 &
MAKE_PID=$!
# Progress: a line every 30s while make runs.
last=$SECONDS
while kill -0 "$MAKE_PID" 2>/dev/null; do
  sleep 2
  if (( SECONDS - last >= 30 )); then
    last=$SECONDS
    log "… still building ($((SECONDS - START))s): $(tail -n 1 "$CACHE_DIR/build.log" | cut -c1-120)"
  fi
done
if ! wait "$MAKE_PID"; then
  MAKE_PID=""
  tail -n 40 "$CACHE_DIR/build.log" >&2
  die "make WHAT=\"$WHAT\" failed (full log: $CACHE_DIR/build.log)"
fi
MAKE_PID=""

for t in "${TARGETS[@]}"; do
  built="$SRC/_output/bin/$t"
  [[ -x "$built" ]] || built="$(find "$SRC/_output" -type f -name "$t" -perm -u+x | head -n 1)"
  [[ -n "$built" && -x "$built" ]] || die "built $t not found under $SRC/_output"
  cp "$built" "$BIN_DIR/.$t.new"
  mv -f "$BIN_DIR/.$t.new" "$BIN_DIR/$t"
  printf '%s' "$STAMP_WANT" >"$BIN_DIR/$t.stamp"
done
"$BIN_DIR/kube-apiserver" --version >&2 || die "built kube-apiserver does not run"
log "built ${TARGETS[*]} into $BIN_DIR in $((SECONDS - START))s"
printf '%s\n' "$BIN_DIR"
