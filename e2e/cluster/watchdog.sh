#!/usr/bin/env bash
# Internal helper of up.sh --owner: stop a server once its owner process is gone.
#
# Usage: watchdog.sh OWNER_PID OWNER_START PID PID_START [PATH_TO_REMOVE...]
# *_START are the processes' start times (field 22 of /proc/PID/stat), so a reused pid is
# not mistaken for the original. Polls every second; when OWNER is gone it sends TERM to PID,
# KILL after 2s, then removes the given paths (etcd data). Exits by itself when PID exits
# first. up.sh starts it with setsid/nohup so it survives a kill -9 of the owner.
set -uo pipefail

owner="$1" owner_start="$2" pid="$3" pid_start="$4"
shift 4

starttime() {
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"
  # shellcheck disable=SC2086  # split the fields on purpose
  set -- $s
  printf '%s' "${20}"
}
alive() { [[ "$(starttime "$1")" == "$2" ]]; }

while alive "$owner" "$owner_start"; do
  alive "$pid" "$pid_start" || exit 0
  sleep 1
done
if alive "$pid" "$pid_start"; then
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 8); do alive "$pid" "$pid_start" || break; sleep 0.25; done
  if alive "$pid" "$pid_start"; then
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 10); do alive "$pid" "$pid_start" || break; sleep 0.2; done
  fi
fi
if [[ $# -gt 0 ]]; then rm -rf -- "$@"; fi
exit 0
