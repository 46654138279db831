#!/usr/bin/env bash
# Run a command against a fresh local control plane (etcd + kube-apiserver 1.20 on 127.0.0.1),
# then tear it down. This is what berth's e2e tests and demo use.
#
# Usage: with-control-plane.sh CMD [ARGS...]
#
# Steps: install-deps.sh (idempotent, apt-get only what is missing), build-kube-apiserver.sh
# (cached in ${BERTH_CACHE_DIR:-~/.cache/berth}/bin), up.sh --wait in a fresh temp dir, then
# CMD runs with KUBECONFIG (and the other variables of DIR/env) exported. On exit, INT or TERM
# the control plane is stopped and the temp dir removed; a watchdog per server stops it within
# a few seconds even if this wrapper is killed with -9. Exit status: CMD's (or 1 when the
# control plane could not be started).
#
# Env:
#   BERTH_USE_EXISTING_KUBECONFIG=1  start nothing: run CMD against the user's KUBECONFIG
#                                    (kind, k3d, EKS, ...)
#   BERTH_KEEP_LOGS=1                keep the temp dir (logs, kubeconfig, certs; not the etcd
#                                    data) and print its path
#   BERTH_CP_DIR=DIR                 use DIR instead of a new temp dir (must not be in use)
#   BERTH_CACHE_DIR                  cache for the built binaries (default ~/.cache/berth)
#   BERTH_SKIP_INSTALL_DEPS=1        do not run install-deps.sh
#   BERTH_READY_TIMEOUT=SECS         readiness timeout passed to up.sh (default 180)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[with-control-plane] %s\n' "$*" >&2; }

if [[ $# -eq 0 ]]; then
  sed -n '2,24p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi

if [[ "${BERTH_USE_EXISTING_KUBECONFIG:-0}" == "1" ]]; then
  if [[ -z "${KUBECONFIG:-}" && ! -f "$HOME/.kube/config" ]]; then
    log "WARNING: BERTH_USE_EXISTING_KUBECONFIG=1 but neither KUBECONFIG nor ~/.kube/config is set"
  fi
  log "BERTH_USE_EXISTING_KUBECONFIG=1: using ${KUBECONFIG:-$HOME/.kube/config}"
  exec "$@"
fi

# Every step runs in the background and is waited for, so INT/TERM reach our traps at once
# (a foreground child would delay them, e.g. for the whole first build). During set-up a
# signal stops the step and we exit 128+N; while CMD runs it is forwarded to CMD (KILL on a
# second signal) and we return CMD's status.
CHILD="" PHASE=setup SIGNALLED="" DIR=""
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null || true
  fi
  if [[ -n "$DIR" ]]; then
    "$HERE/down.sh" --dir "$DIR" --fast || true
    if [[ "${BERTH_KEEP_LOGS:-0}" == "1" ]]; then
      log "kept $DIR (logs in $DIR/logs)"
    elif [[ -z "${BERTH_CP_DIR:-}" ]]; then
      rm -rf "$DIR"
    fi
  fi
  exit "$rc"
}
# shellcheck disable=SC2317  # invoked by trap
on_signal() {
  local sig="$1"
  if [[ -z "$CHILD" ]]; then
    [[ "$sig" == INT ]] && exit 130
    exit 143
  fi
  if [[ -n "$SIGNALLED" ]]; then
    kill -KILL "$CHILD" 2>/dev/null || true
  else
    SIGNALLED="$sig"
    if [[ "$PHASE" == setup ]]; then
      log "got SIG$sig during set-up: stopping"
      kill -TERM "$CHILD" 2>/dev/null || true
    else
      kill -"$sig" "$CHILD" 2>/dev/null || true
    fi
  fi
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# run_child CMD...: run CMD in the background with our stdin and INT/QUIT/TERM at their
# defaults, wait for it, set RC to its status.
RC=0
run_child() {
  { exec 3<&0; } 2>/dev/null || exec 3</dev/null   # stdin may be closed (CI)
  ( trap - INT QUIT TERM; exec "$@" <&3 3<&- ) &
  CHILD=$!
  exec 3<&-
  while :; do
    wait "$CHILD" && RC=0 || RC=$?
    kill -0 "$CHILD" 2>/dev/null || break
  done
  # The last wait may have been cut short by a signal: fetch the child's real status.
  wait "$CHILD" 2>/dev/null && RC=0 || RC=$?
  CHILD=""
}
setup_step() {
  run_child "$@"
  if [[ -n "$SIGNALLED" ]]; then
    [[ "$SIGNALLED" == INT ]] && exit 130
    exit 143
  fi
  [[ "$RC" == 0 ]] || { log "set-up step failed (exit $RC): $*"; exit 1; }
}

T0=$SECONDS
setup_step "$HERE/install-deps.sh"
setup_step "$HERE/build-kube-apiserver.sh" >/dev/null

if [[ -n "${BERTH_CP_DIR:-}" ]]; then
  DIR="$BERTH_CP_DIR"
  mkdir -p "$DIR"
else
  DIR="$(mktemp -d "${TMPDIR:-/tmp}/berth-cp.XXXXXX")"
fi

T1=$SECONDS
UP_ARGS=(--dir "$DIR" --wait --owner "$$" --timeout "${BERTH_READY_TIMEOUT:-180}")
if [[ "${BERTH_KEEP_LOGS:-0}" != "1" && -z "${BERTH_CP_DIR:-}" ]]; then
  UP_ARGS+=(--owner-removes-dir)
fi
setup_step "$HERE/up.sh" "${UP_ARGS[@]}"
log "control plane ready in $((SECONDS - T1))s (total $((SECONDS - T0))s incl. deps/build check); running: $*"

# shellcheck disable=SC1091
source "$DIR/env"

PHASE=cmd
run_child "$@"
exit "$RC"
