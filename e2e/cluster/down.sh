#!/usr/bin/env bash
# Stop the control plane that up.sh started for DIR: kube-apiserver first, then etcd (TERM,
# then KILL after --timeout seconds, default 10), plus their watchdogs; then remove the etcd
# data (DIR/etcd-data) and DIR/pids. Idempotent: a dir with nothing running is fine.
# Logs (DIR/logs), certificates and kubeconfig are left in place.
#
# Usage: down.sh --dir DIR [--timeout SECS] [--fast]
#   --fast  stop kube-apiserver and etcd at the same time, KILL after 2s (unless --timeout
#           says otherwise): for throw-away dirs (with-control-plane.sh uses it)
set -euo pipefail

log() { printf '[down] %s\n' "$*" >&2; }
die() { printf '[down] ERROR: %s\n' "$*" >&2; exit 1; }

DIR="" TIMEOUT="" FAST=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#--timeout=}"; shift ;;
    --fast) FAST=1; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n "$DIR" ]] || die "--dir DIR is required"
if [[ -z "$TIMEOUT" ]]; then
  if [[ "$FAST" == 1 ]]; then TIMEOUT=2; else TIMEOUT=10; fi
fi
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
[[ -d "$DIR" ]] || exit 0

starttime() {
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"
  # shellcheck disable=SC2086  # split the fields on purpose
  set -- $s
  printf '%s' "${20}"
}
# alive PID START: PID runs and is the process recorded (not a reused pid).
alive() { [[ "$(starttime "$1" 2>/dev/null)" == "$2" ]]; }

stop() {  # stop NAME...: TERM the recorded processes with these names, wait, then KILL
  local names=" $* " name pid st pids=() starts=()
  while read -r name pid st; do
    [[ -n "${name:-}" && "$names" == *" $name "* ]] || continue
    if alive "$pid" "$st"; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); starts+=("$st")
    fi
  done <"$DIR/pids"
  [[ "${#pids[@]}" -gt 0 ]] || return 0
  local deadline=$((SECONDS + TIMEOUT)) i left
  while :; do
    left=0
    for i in "${!pids[@]}"; do alive "${pids[$i]}" "${starts[$i]}" && left=1; done
    [[ "$left" == 0 ]] && return 0
    (( SECONDS < deadline )) || break
    sleep 0.2
  done
  for i in "${!pids[@]}"; do
    if alive "${pids[$i]}" "${starts[$i]}"; then
      log "pid ${pids[$i]} ignored TERM for ${TIMEOUT}s: KILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 25); do
    left=0
    for i in "${!pids[@]}"; do alive "${pids[$i]}" "${starts[$i]}" && left=1; done
    [[ "$left" == 0 ]] && return 0
    sleep 0.2
  done
  log "WARNING: some processes did not exit: ${pids[*]}"
}

if [[ -f "$DIR/pids" ]]; then
  stop watchdog          # so they do not race with us
  if [[ "$FAST" == 1 ]]; then
    stop kube-apiserver etcd
  else
    stop kube-apiserver
    stop etcd
  fi
  rm -f "$DIR/pids"
fi
rm -rf "$DIR/etcd-data"
