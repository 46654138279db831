#!/usr/bin/env bash
# Install (idempotently) what the berth local control plane needs, with apt-get only.
#
#   etcd-server, golang-go, rsync, make, dpkg-dev (apt-get source), python3 (port picking),
#   golang-github-modern-go-reflect2-dev, golang-github-json-iterator-go-dev (Go >= 1.18 fixes
#   swapped into the kubernetes 1.20 vendor tree), openssl, curl, and a kubectl.
#
# kubectl: an existing `kubectl` on PATH is kept; otherwise Debian's `kubernetes-client` is
# installed when apt has it; otherwise build-kube-apiserver.sh builds cmd/kubectl from the
# same source tree as kube-apiserver (it is told so by the file this script leaves in the
# cache dir, see BERTH_CACHE_DIR).
#
# Also enables deb-src entries for the running Debian release (needed by `apt-get source
# kubernetes`), in /etc/apt/sources.list or the deb822 /etc/apt/sources.list.d/debian.sources.
# `apt-get update` runs at most once, and only when something must be installed or deb-src
# was just enabled.
#
# Env: BERTH_SKIP_INSTALL_DEPS=1 skips everything (for machines set up by hand).
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { printf '[install-deps] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ "${BERTH_SKIP_INSTALL_DEPS:-0}" == "1" ]]; then
  log "BERTH_SKIP_INSTALL_DEPS=1: skipping"
  exit 0
fi

CACHE_DIR="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"

# Root is needed only to change something: as root run directly, else through sudo.
SUDO=()
CAN_ROOT=1
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    CAN_ROOT=0
  fi
fi
need_root() {
  [[ "$CAN_ROOT" == 1 ]] || die "$1: run as root, or install sudo (not root, no sudo here)"
}
export DEBIAN_FRONTEND=noninteractive

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian (bookworm) only"

CODENAME=""
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  CODENAME="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
fi
CODENAME="${CODENAME:-bookworm}"

UPDATED=0
apt_update_once() {
  if [[ "$UPDATED" -eq 0 ]]; then
    need_root "apt-get update is needed"
    log "apt-get update"
    "${SUDO[@]}" apt-get update -qq
    UPDATED=1
  fi
}

# ---- deb-src -----------------------------------------------------------------------------
have_deb_src() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    if grep -Eq "^[[:space:]]*deb-src[[:space:]].*[[:space:]]${CODENAME}([[:space:]]|$)" "$f"; then
      return 0
    fi
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # A deb822 stanza with deb-src and our suite (checked per stanza with awk).
    if awk -v suite="$CODENAME" '
        BEGIN { RS=""; FS="\n"; found=0 }
        {
          types=0; suites=0; enabled=1
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^Types:/ && $i ~ /deb-src/) types=1
            if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == suite) suites=1 }
            if ($i ~ /^Enabled:[ \t]*no/) enabled=0
          }
          if (types && suites && enabled) found=1
        }
        END { exit(found ? 0 : 1) }' "$f"; then
      return 0
    fi
  done
  return 1
}

BACKUP_DIR=/etc/apt/berth-backup   # outside sources.list.d, where apt would warn about it
enable_deb_src() {
  local deb822=/etc/apt/sources.list.d/debian.sources list=/etc/apt/sources.list
  if [[ -f "$deb822" ]] && grep -Eq '^Types:' "$deb822"; then
    log "enabling deb-src in $deb822 (backup: $BACKUP_DIR/debian.sources)"
    "${SUDO[@]}" mkdir -p "$BACKUP_DIR"
    "${SUDO[@]}" cp -n "$deb822" "$BACKUP_DIR/debian.sources"
    # Add deb-src to every stanza's Types line that has deb but not deb-src.
    "${SUDO[@]}" sed -i -E '/^Types:/{/deb-src/!s/^Types:(.*)$/Types:\1 deb-src/}' "$deb822"
  elif [[ -f "$list" ]] && grep -Eq "^[[:space:]]*deb[[:space:]].*[[:space:]]${CODENAME}([[:space:]]|$)" "$list"; then
    log "enabling deb-src in $list (backup: $BACKUP_DIR/sources.list)"
    "${SUDO[@]}" mkdir -p "$BACKUP_DIR"
    "${SUDO[@]}" cp -n "$list" "$BACKUP_DIR/sources.list"
    local tmp
    tmp="$(mktemp)"
    {
      cat "$list"
      echo "# deb-src entries added by berth e2e/cluster/install-deps.sh"
      grep -E "^[[:space:]]*deb[[:space:]].*[[:space:]]${CODENAME}(-[a-z-]+)?([[:space:]]|$)" "$list" \
        | sed -E 's/^([[:space:]]*)deb([[:space:]])/\1deb-src\2/'
    } >"$tmp"
    "${SUDO[@]}" cp "$tmp" "$list"
    rm -f "$tmp"
  else
    local f=/etc/apt/sources.list.d/berth-deb-src.list
    log "no Debian source list found to extend: writing $f"
    printf 'deb-src http://deb.debian.org/debian %s main\n' "$CODENAME" | "${SUDO[@]}" tee "$f" >/dev/null
  fi
  have_deb_src || die "could not enable deb-src entries for $CODENAME; add them by hand"
}

if have_deb_src; then
  log "deb-src for $CODENAME: already enabled"
elif [[ "$CAN_ROOT" == 0 ]]; then
  log "WARNING: deb-src for $CODENAME is not enabled and this user cannot enable it (no root," \
      "no sudo): building kube-apiserver will fail unless it is cached already"
else
  enable_deb_src
  UPDATED=0
  apt_update_once
fi

# ---- packages ----------------------------------------------------------------------------
is_installed() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

WANT=(etcd-server golang-go rsync make dpkg-dev python3 openssl curl ca-certificates
      golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)
MISSING=()
for p in "${WANT[@]}"; do
  is_installed "$p" || MISSING+=("$p")
done

# kubectl: keep one that works; else Debian's kubernetes-client; else build it from source.
mkdir -p "$CACHE_DIR"
rm -f "$CACHE_DIR/need-kubectl-build"
if command -v kubectl >/dev/null 2>&1 && kubectl version --client >/dev/null 2>&1; then
  log "kubectl: using $(command -v kubectl)"
elif is_installed kubernetes-client; then
  log "kubectl: kubernetes-client is installed"
else
  # apt-cache needs package lists; read them (update once if apt knows no candidate yet).
  cand="$(apt-cache policy kubernetes-client 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [[ -z "$cand" || "$cand" == "(none)" ]]; then
    apt_update_once
    cand="$(apt-cache policy kubernetes-client 2>/dev/null | awk '/Candidate:/ {print $2}')"
  fi
  if [[ -n "$cand" && "$cand" != "(none)" ]]; then
    MISSING+=(kubernetes-client)
  else
    log "kubectl: apt has no kubernetes-client; build-kube-apiserver.sh will build cmd/kubectl"
    : >"$CACHE_DIR/need-kubectl-build"
  fi
fi

if [[ "${#MISSING[@]}" -eq 0 ]]; then
  log "all packages present"
  exit 0
fi

need_root "missing packages: ${MISSING[*]}"
log "installing: ${MISSING[*]}"
# Try without update first only if lists exist; on a fresh machine update is needed anyway.
if [[ "$UPDATED" -eq 0 ]] && ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null 2>&1; then
  apt_update_once
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
elif [[ "$UPDATED" -eq 1 ]]; then
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
fi
log "done"
