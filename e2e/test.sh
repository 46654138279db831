#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit tests (API
# validation, CRD drift, awsim), then the end-to-end suite against a real
# kube-apiserver + etcd on loopback and awsim.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install a Rust toolchain >= 1.94 (rustup) first" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "unit and integration tests (API, CRD drift, awsim)"
cargo test --workspace --exclude berth-e2e --no-fail-fast 2>&1 | tee -a "$RESULTS"

step "end-to-end tests (real kube-apiserver + awsim + berth)"
cargo build -p berth -p awsim --bins
cargo test -p berth-e2e --tests --no-run
# Once, before the two runs below start a control plane each: on a new
# machine this installs etcd and builds kube-apiserver (~8 minutes).
e2e/cluster/install-deps.sh
e2e/cluster/build-kube-apiserver.sh >/dev/null
# The 200-service scale test spends most of its ~6 minutes waiting on
# berth's AWS rate limiter (real-time token buckets), not on the CPU: it
# runs beside the rest, against a control plane of its own.
SCALE_LOG="$(mktemp)"
e2e/cluster/with-control-plane.sh cargo test -p berth-e2e --test scale_migrations -- --nocapture >"$SCALE_LOG" 2>&1 &
SCALE_PID=$!
# Tests of one berth serving several namespaces (tenancy_*.rs) run a berth
# that watches every namespace: on a control plane of their own, one test
# at a time, so no other test's objects are in their berth's sight.
tenancy=() others=()
for f in e2e/tests/tests/*.rs; do
  name="$(basename "$f" .rs)"
  case "$name" in
    scale_migrations) ;;
    tenancy_*) tenancy+=(--test "$name") ;;
    *) others+=(--test "$name") ;;
  esac
done
TENANCY_LOG="$(mktemp)"
TENANCY_PID=""
if [[ ${#tenancy[@]} -gt 0 ]]; then
  e2e/cluster/with-control-plane.sh cargo test -p berth-e2e "${tenancy[@]}" --no-fail-fast -- --test-threads=1 >"$TENANCY_LOG" 2>&1 &
  TENANCY_PID=$!
fi
main_status=0
e2e/cluster/with-control-plane.sh cargo test -p berth-e2e "${others[@]}" --no-fail-fast -- --test-threads=2 2>&1 | tee -a "$RESULTS" || main_status=$?
tenancy_status=0
if [[ -n "$TENANCY_PID" ]]; then
  wait "$TENANCY_PID" || tenancy_status=$?
fi
step "tenancy tests (one berth for every namespace; ran beside the others)"
grep -v '^\[' "$TENANCY_LOG" | tee -a "$RESULTS"
rm -f "$TENANCY_LOG"
scale_status=0
wait "$SCALE_PID" || scale_status=$?
step "scale test (ran beside the others)"
grep -v '^\[' "$SCALE_LOG" | tee -a "$RESULTS"
rm -f "$SCALE_LOG"

# One closing line over every test binary (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$RESULTS"
# Any end-to-end run failing fails the whole run (the first one's status
# was kept until the others had finished).
if [[ "$main_status" -ne 0 || "$scale_status" -ne 0 || "$tenancy_status" -ne 0 ]]; then
  exit 1
fi
