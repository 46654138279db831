#!/usr/bin/env bash
# Self-test of the scripts in this directory (takes ~1 min once kube-apiserver is built):
#   1. with-control-plane.sh smoke-test.sh                       (exit code 0)
#   2. two wrappers at once, each running smoke-test.sh        (no port collision)
#   3. kill -9 of a wrapper mid-run: its etcd, kube-apiserver and watchdogs are gone within
#      a few seconds and its temp dir is removed
#   4. with-control-plane.sh returns CMD's exit code (sh -c 'exit 7')
# Usage: e2e/cluster/self-test.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="$HERE/with-control-plane.sh"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/berth-selftest.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
say() { printf '[self-test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# Build (and install deps) first so the timings below are for a cached start.
"$HERE/install-deps.sh"
"$HERE/build-kube-apiserver.sh" >/dev/null

say "1. smoke test"
t=$SECONDS
"$W" "$HERE/smoke-test.sh" >"$OUT/1.log" 2>&1 || { tail -n 40 "$OUT/1.log" >&2; fail "smoke test"; }
say "   ok in $((SECONDS - t))s: $(grep -o 'control plane ready in [0-9]*s' "$OUT/1.log")"

say "2. two wrappers concurrently"
t=$SECONDS
"$W" "$HERE/smoke-test.sh" >"$OUT/2a.log" 2>&1 & a=$!
"$W" "$HERE/smoke-test.sh" >"$OUT/2b.log" 2>&1 & b=$!
ra=0; rb=0
wait "$a" || ra=$?
wait "$b" || rb=$?
pa="$(grep -o 'kube-apiserver on https://127.0.0.1:[0-9]*' "$OUT/2a.log" | tail -n 1)"
pb="$(grep -o 'kube-apiserver on https://127.0.0.1:[0-9]*' "$OUT/2b.log" | tail -n 1)"
[[ "$ra" == 0 && "$rb" == 0 ]] || { tail -n 30 "$OUT/2a.log" "$OUT/2b.log" >&2; fail "concurrent runs: exit $ra / $rb"; }
[[ "$pa" != "$pb" ]] || fail "both runs used $pa"
say "   ok in $((SECONDS - t))s: ${pa##* } and ${pb##* }"

say "3. kill -9 of the wrapper mid-run"
SMOKE_HOLD=300 "$W" "$HERE/smoke-test.sh" >"$OUT/3.log" 2>&1 & w=$!
for _ in $(seq 1 180); do grep -q 'holding for' "$OUT/3.log" && break; sleep 1; done
grep -q 'holding for' "$OUT/3.log" || { kill "$w"; fail "wrapper did not reach the hold point"; }
dir="$(grep -o 'KUBECONFIG=[^ ]*' "$OUT/3.log" | head -n 1)"; dir="${dir#KUBECONFIG=}"; dir="${dir%/kubeconfig}"
pids="$(awk '{print $2}' "$dir/pids" | xargs)"
say "   wrapper $w, dir $dir, servers+watchdogs: $pids"
cmd_pids="$(pgrep -P "$w" | xargs)"   # the wrapper's CMD (smoke-test.sh)
for c in $cmd_pids; do cmd_pids+=" $(pgrep -P "$c" | xargs)"; done   # and its sleep
kill -9 "$w"
t=$SECONDS
left="$pids"
while (( SECONDS - t < 20 )); do
  left=""
  for p in $pids; do
    [[ -r "/proc/$p/cmdline" ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "$dir\|watchdog.sh" && left+="$p "
  done
  [[ -z "$left" ]] && break
  sleep 0.5
done
# The orphaned CMD (smoke-test.sh and its sleep) outlives a kill -9 by design: stop it.
for p in $cmd_pids; do kill "$p" 2>/dev/null || true; done
[[ -z "$left" ]] || fail "still running $((SECONDS - t))s after kill -9: $left"
say "   ok: all gone $((SECONDS - t))s after kill -9"
for _ in 1 2 3 4 5 6; do [[ -e "$dir" ]] || break; sleep 0.5; done
[[ ! -e "$dir" ]] || fail "temp dir $dir left behind"

say "4. exit code passthrough"
rc=0
"$W" sh -c 'kubectl get ns default >/dev/null && exit 7' >"$OUT/4.log" 2>&1 || rc=$?
[[ "$rc" == 7 ]] || { tail -n 20 "$OUT/4.log" >&2; fail "exit code $rc, wanted 7"; }
say "   ok"

# Nothing of ours may be left: no process mentions one of the dirs these runs used (other
# users of the wrapper on this machine have other dirs), and the dirs are gone.
for f in "$OUT"/*.log; do
  d="$(grep -o 'KUBECONFIG=[^ ]*' "$f" | head -n 1)"; d="${d#KUBECONFIG=}"; d="${d%/kubeconfig}"
  [[ -n "$d" ]] || continue
  if pgrep -f "$d" >/dev/null; then pgrep -af "$d" >&2; fail "processes left behind for $d"; fi
  [[ ! -e "$d" ]] || fail "dir left behind: $d"
done
say "all passed"
