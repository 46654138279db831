#!/usr/bin/env bash
# berth end to end on this machine: a local kube-apiserver + etcd, awsim (the
# AWS simulator), the berth controller, and the example application from
# examples/, then `kubectl get berth`. Everything stays running afterwards.
#
# Usage: e2e/demo.sh [up|down|status]
#   up (default)  start what is not running yet (idempotent), apply examples/, show them
#   down          stop berth, awsim, kube-apiserver and etcd
#   status        show what runs and `kubectl get berth`
#
# Env: BERTH_DEMO_DIR (state, logs, kubeconfig; default ~/.cache/berth/demo),
#      BERTH_USE_EXISTING_KUBECONFIG=1 (use your cluster from KUBECONFIG instead
#      of starting a local API server), AWSIM_TIME_SCALE (default 10: AWS waits
#      pass ten times faster), BERTH_DEMO_TIMEOUT (default 300 s: `up` exits 1
#      unless every example is Ready by then; everything stays running).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${BERTH_DEMO_DIR:-${BERTH_CACHE_DIR:-$HOME/.cache/berth}/demo}"
CP="$DIR/control-plane"
NS=shop
say() { printf '\n==> %s\n' "$*"; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
  local f="$1" name="$2"
  if alive "$f"; then
    echo "stopping $name (pid $(cat "$f"))"
    kill "$(cat "$f")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$f" || break; sleep 0.1; done
    alive "$f" && kill -9 "$(cat "$f")" 2>/dev/null || true
  fi
  rm -f "$f"
}

use_existing() { [[ "${BERTH_USE_EXISTING_KUBECONFIG:-0}" == "1" ]]; }

kube_env() {
  if use_existing; then
    : "${KUBECONFIG:=$HOME/.kube/config}"
    export KUBECONFIG
  else
    # shellcheck disable=SC1091
    source "$CP/env"
  fi
}

cmd_down() {
  stop_pidfile "$DIR/berth.pid" berth
  stop_pidfile "$DIR/awsim.pid" awsim
  if ! use_existing && [[ -d "$CP" ]]; then
    "$ROOT/e2e/cluster/down.sh" --dir "$CP"
  fi
  rm -f "$DIR/awsim-state.json"
  echo "demo stopped"
}

cmd_status() {
  for p in berth awsim; do
    if alive "$DIR/$p.pid"; then echo "$p: running (pid $(cat "$DIR/$p.pid"))"; else echo "$p: stopped"; fi
  done
  kube_env
  kubectl get berth -n "$NS" -o wide || true
}

cmd_up() {
  mkdir -p "$DIR"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install a Rust toolchain >= 1.94 (rustup) first" >&2
    exit 1
  fi

  if ! use_existing; then
    say "Kubernetes: local etcd + kube-apiserver (first run builds kube-apiserver from Debian's source, a few minutes)"
    "$ROOT/e2e/cluster/install-deps.sh"
    "$ROOT/e2e/cluster/build-kube-apiserver.sh" >/dev/null
    if [[ -f "$CP/kubeconfig" ]] && (source "$CP/env" && kubectl get --raw /readyz >/dev/null 2>&1); then
      echo "already running"
    else
      "$ROOT/e2e/cluster/down.sh" --dir "$CP" >/dev/null 2>&1 || true
      "$ROOT/e2e/cluster/up.sh" --dir "$CP" --wait
    fi
  fi
  kube_env

  say "Building berth and awsim"
  (cd "$ROOT" && cargo build -p berth -p awsim --bins)
  local bin="$ROOT/target/debug"

  say "AWS: awsim (ECS, ECR, Cloud Map, RDS, Secrets Manager, Logs on one endpoint)"
  if alive "$DIR/awsim.pid"; then
    echo "already running on $(cat "$DIR/awsim.endpoint")"
  else
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    nohup "$bin/awsim" --listen "127.0.0.1:$port" --account-id 123456789012 \
      --time-scale "${AWSIM_TIME_SCALE:-10}" --seed "$ROOT/e2e/demo/seed.json" \
      --state-file "$DIR/awsim-state.json" >"$DIR/awsim.log" 2>&1 &
    echo $! >"$DIR/awsim.pid"
    echo "http://127.0.0.1:$port" >"$DIR/awsim.endpoint"
    for _ in $(seq 100); do
      curl -fsS "http://127.0.0.1:$port/_awsim/calls" >/dev/null 2>&1 && break
      sleep 0.1
    done
    echo "listening on http://127.0.0.1:$port (log: $DIR/awsim.log)"
  fi

  say "CRDs"
  "$bin/berth" crds --install

  say "berth controller (watching namespace $NS)"
  kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  if alive "$DIR/berth.pid"; then
    echo "already running (pid $(cat "$DIR/berth.pid"))"
  else
    AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true \
      nohup "$bin/berth" run --namespace "$NS" --aws-endpoint-url "$(cat "$DIR/awsim.endpoint")" \
      --aws-region us-east-1 --resync-interval 30s --admin-addr 127.0.0.1:0 \
      --leader-election false >"$DIR/berth.log" 2>&1 &
    echo $! >"$DIR/berth.pid"
    echo "started (log: $DIR/berth.log)"
  fi

  say "Applying examples/ to namespace $NS"
  kubectl apply --server-side -n "$NS" -f "$ROOT/examples/"

  # The release converges in order: the Aurora cluster and its proxy, the
  # migration against it, the api rollout, the smoke test; web pulls through
  # the cache rule. Wait for every Ready condition (a few minutes of AWS time
  # at AWSIM_TIME_SCALE), showing the reasons while it goes.
  local timeout="${BERTH_DEMO_TIMEOUT:-300}"
  say "Waiting for every example to be Ready (up to ${timeout}s)"
  kinds=ecsservices,migrationjobs,auroraclusters,pullthroughcaches
  local want started=$SECONDS deadline=$((SECONDS + timeout)) all_ready=0 states not_ready
  want=$(cat "$ROOT"/examples/*.yaml | grep -c -E '^kind: (EcsService|MigrationJob|AuroraCluster|PullThroughCache)$' || true)
  while true; do
    # A failed kubectl or a missing object is "not Ready", never "all Ready".
    if states="$(kubectl get "$kinds" -n "$NS" \
      -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}{"\n"}{end}' 2>&1)"; then
      not_ready="$(grep -v '=True/' <<<"$states" | grep -v '^$' || true)"
      if [[ -z "$not_ready" ]] && (( $(grep -c '=True/' <<<"$states" || true) >= want )); then
        all_ready=1
        echo "all $want Ready after $((SECONDS - started))s"
        break
      fi
      [[ -z "$not_ready" ]] && not_ready="only $(grep -c '=True/' <<<"$states" || true) of $want objects exist"
    else
      not_ready="kubectl get failed: $states"
    fi
    if (( SECONDS > deadline )); then
      echo "not Ready after ${timeout}s: $(echo "$not_ready" | tr '\n' ' ')"
      break
    fi
    echo "  waiting: $(echo "$not_ready" | tr '\n' ' ')"
    sleep 5
  done

  say "kubectl get berth -n $NS"
  kubectl get berth -n "$NS"
  say "Why (the Ready condition of each)"
  kubectl get "$kinds" -n "$NS" \
    -o custom-columns='NAME:.metadata.name,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message'

  cat <<MSG

berth is running. Use kubectl against it:
  $(use_existing && echo "export KUBECONFIG=$KUBECONFIG" || echo "source $CP/env")
  kubectl get berth -n $NS -w
  kubectl describe ecsservice api -n $NS
Logs: $DIR/berth.log, $DIR/awsim.log (AWS calls: curl $(cat "$DIR/awsim.endpoint")/_awsim/calls)
Stop everything: $ROOT/e2e/demo.sh down
MSG
  if (( ! all_ready )); then
    echo "demo: not every example became Ready within ${timeout}s (BERTH_DEMO_TIMEOUT); see the reasons above and $DIR/berth.log" >&2
    exit 1
  fi
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
