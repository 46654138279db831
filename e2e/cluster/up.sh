#!/usr/bin/env bash
# Start a local control plane (etcd + kube-apiserver 1.20) on 127.0.0.1 for berth's e2e
# tests and demo.
#
# Usage: up.sh --dir DIR [--wait] [--timeout SECS] [--owner PID]
#   --dir DIR       state dir (created if missing): DIR/kubeconfig, DIR/env, DIR/logs/,
#                   DIR/pids, DIR/pki/, DIR/etcd-data/ (removed by down.sh)
#   --wait          wait until kube-apiserver's /readyz is ok and the `default` namespace
#                   exists (without it, up.sh returns once both processes are started and
#                   etcd is healthy; the kubeconfig is written either way)
#   --timeout SECS  readiness timeout for --wait (default 180; a busy 2-core machine needs ~20s)
#   --owner PID     start a watchdog per server that stops it (TERM, then KILL) and removes
#                   the etcd data as soon as process PID is gone, even if PID was kill -9'd
#   --owner-removes-dir  with --owner: the etcd watchdog removes all of DIR, not only the
#                   etcd data, once the owner is gone (for temp dirs; with-control-plane.sh)
#
# Env: BERTH_CACHE_DIR (kube-apiserver is taken from $BERTH_CACHE_DIR/bin, default
#      ~/.cache/berth/bin; build it with build-kube-apiserver.sh), BERTH_KUBE_APISERVER
#      (explicit binary), BERTH_ETCD (explicit etcd binary, default `etcd` on PATH).
#
# Ports: three free ports (etcd client, etcd peer, apiserver) picked at run time on
# 127.0.0.1, at random below the kernel's ephemeral range (ip_local_port_range) so outgoing
# connections cannot take them between the pick and the bind; a start that still loses a race
# ("address already in use") is retried with new ports.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '[up] ERROR: %s\n' "$*" >&2; exit 1; }

DIR="" WAIT=0 TIMEOUT=180 OWNER="" OWNER_REMOVES_DIR=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    --wait) WAIT=1; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#--timeout=}"; shift ;;
    --owner) OWNER="${2:?--owner needs a value}"; shift 2 ;;
    --owner=*) OWNER="${1#--owner=}"; shift ;;
    --owner-removes-dir) OWNER_REMOVES_DIR=1; shift ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n "$DIR" ]] || die "--dir DIR is required"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
if [[ -n "$OWNER" ]]; then
  if ! [[ "$OWNER" =~ ^[0-9]+$ ]] || ! kill -0 "$OWNER" 2>/dev/null; then
    die "--owner $OWNER is not a running process"
  fi
fi

CACHE_DIR="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
APISERVER="${BERTH_KUBE_APISERVER:-$CACHE_DIR/bin/kube-apiserver}"
ETCD="${BERTH_ETCD:-$(command -v etcd || true)}"
[[ -x "$APISERVER" ]] || die "kube-apiserver not found at $APISERVER (run e2e/cluster/build-kube-apiserver.sh)"
[[ -n "$ETCD" && -x "$ETCD" ]] || die "etcd not found (apt-get install etcd-server, or run e2e/cluster/install-deps.sh)"
for t in openssl curl python3 setsid; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (run e2e/cluster/install-deps.sh)"
done

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [[ -s "$DIR/pids" ]]; then
  die "$DIR/pids exists: a control plane may already run for this dir (run down.sh --dir $DIR first)"
fi
mkdir -p "$DIR/logs" "$DIR/pki"
rm -rf "$DIR/etcd-data"

# ---- helpers -----------------------------------------------------------------------------
# Process start time (field 22 of /proc/PID/stat), to tell a pid from a reused one.
starttime() {
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"
  # shellcheck disable=SC2086  # split the fields on purpose
  set -- $s
  printf '%s' "${20}"
}

pick_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except OSError:
    lo, hi = 32768, 60999
reserved = {2379, 2380, 6443, 8080, 8443, 10250}
# Prefer ports below the kernel's ephemeral range: outgoing connections never take them.
cands = [p for p in range(max(10000, lo - 20000), lo) if p not in reserved] if lo > 12000 else []
random.shuffle(cands)
got = []
def free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for p in cands:
    if len(got) == n:
        break
    if free(p):
        got.append(p)
while len(got) < n:  # fallback: let the kernel choose
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    if p not in got:
        got.append(p)
print(" ".join(map(str, got)))
PY
}

# Start a watchdog for server PID: when OWNER is gone (or was replaced by a reused pid), stop
# PID (TERM, KILL after 2s) and remove the given paths. Exits by itself when PID exits first.
start_watchdog() {
  local pid="$1" pid_start="$2"; shift 2
  [[ -n "$OWNER" ]] || return 0
  local owner_start
  owner_start="$(starttime "$OWNER")" || die "owner $OWNER is gone"
  setsid nohup "$HERE/watchdog.sh" "$OWNER" "$owner_start" "$pid" "$pid_start" "$@" \
    </dev/null >/dev/null 2>&1 &
  local wd=$!
  printf 'watchdog %s %s\n' "$wd" "$(starttime "$wd" || echo 0)" >>"$DIR/pids"
}

# Start a server detached (own session, survives this script), log to DIR/logs/NAME.log.
SERVER_PID=""
start_server() {
  local name="$1"; shift
  setsid nohup "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
  SERVER_PID=$!
  local st
  st="$(starttime "$SERVER_PID" || echo 0)"
  printf '%s %s %s\n' "$name" "$SERVER_PID" "$st" >>"$DIR/pids"
  if [[ "$name" == etcd && "$OWNER_REMOVES_DIR" == 1 ]]; then
    start_watchdog "$SERVER_PID" "$st" "$DIR"
  elif [[ "$name" == etcd ]]; then
    start_watchdog "$SERVER_PID" "$st" "$DIR/etcd-data"
  else
    start_watchdog "$SERVER_PID" "$st"
  fi
}

fail_with_log() {
  local name="$1" msg="$2"
  printf '[up] ERROR: %s\n[up] last 50 lines of %s:\n' "$msg" "$DIR/logs/$name.log" >&2
  tail -n 50 "$DIR/logs/$name.log" >&2 || true
  "$HERE/down.sh" --dir "$DIR" >&2 || true
  exit 1
}

addr_in_use() { grep -qi 'address already in use' "$DIR/logs/$1.log" 2>/dev/null; }

# ---- PKI: CA, serving certificate (SAN 127.0.0.1/localhost), service-account keys, token ---
PKI="$DIR/pki"
if [[ ! -s "$PKI/serving.crt" ]]; then
  log "generating certificates and keys in $PKI"
  (
    cd "$PKI"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=berth-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out serving.key 2>/dev/null
    openssl req -new -key serving.key -subj "/CN=kube-apiserver" -out serving.csr 2>/dev/null
    cat >serving.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
    openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
      -days 3650 -extfile serving.ext -out serving.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    token="$(openssl rand -hex 24)"
    printf '%s,admin,berth-admin,"system:masters"\n' "$token" >tokens.csv
    printf '%s' "$token" >admin.token
    chmod 600 ./*.key tokens.csv admin.token
  ) || die "certificate generation with openssl failed"
fi
TOKEN="$(cat "$PKI/admin.token")"

# ---- etcd --------------------------------------------------------------------------------
ETCD_PORT="" PEER_PORT="" API_PORT=""
for attempt in 1 2 3 4 5; do
  read -r ETCD_PORT PEER_PORT API_PORT < <(pick_ports 3)
  rm -rf "$DIR/etcd-data"
  log "starting etcd on 127.0.0.1:$ETCD_PORT (peer $PEER_PORT)"
  start_server etcd "$ETCD" \
    --name berth \
    --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
    --initial-cluster "berth=http://127.0.0.1:$PEER_PORT" \
    --initial-cluster-state new \
    --initial-cluster-token "berth-$$-$RANDOM" \
    --logger zap --log-outputs stderr
  ETCD_PID="$SERVER_PID"
  ok=0
  for _ in $(seq 1 150); do   # up to ~30s
    if ! kill -0 "$ETCD_PID" 2>/dev/null; then break; fi
    if curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; then
      ok=1; break
    fi
    sleep 0.2
  done
  [[ "$ok" == 1 ]] && break
  if ! kill -0 "$ETCD_PID" 2>/dev/null && addr_in_use etcd && [[ "$attempt" -lt 5 ]]; then
    log "etcd lost a port race; retrying with new ports"
    sed -i '/^etcd /d' "$DIR/pids"
    continue
  fi
  fail_with_log etcd "etcd did not become healthy on 127.0.0.1:$ETCD_PORT"
done

# ---- kube-apiserver ----------------------------------------------------------------------
for attempt in 1 2 3 4 5; do
  log "starting kube-apiserver on https://127.0.0.1:$API_PORT"
  # Admission: the defaults minus ServiceAccount, which needs the token/service-account
  # controllers of kube-controller-manager (not run here) before pods can be created.
  start_server kube-apiserver "$APISERVER" \
    --advertise-address 127.0.0.1 \
    --bind-address 127.0.0.1 \
    --secure-port "$API_PORT" \
    --insecure-port 0 \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file "$PKI/serving.crt" \
    --tls-private-key-file "$PKI/serving.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" \
    --authorization-mode RBAC \
    --anonymous-auth=false \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --api-audiences "https://kubernetes.default.svc.cluster.local" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --disable-admission-plugins ServiceAccount \
    --allow-privileged=true \
    --profiling=false \
    --cert-dir "$PKI"
  API_PID="$SERVER_PID"
  # Wait until it listens (or dies) to catch a lost port race.
  listening=0
  for _ in $(seq 1 300); do   # up to ~60s
    kill -0 "$API_PID" 2>/dev/null || break
    if curl -sk --max-time 2 -o /dev/null "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null; then
      listening=1; break
    fi
    sleep 0.2
  done
  [[ "$listening" == 1 ]] && break
  if ! kill -0 "$API_PID" 2>/dev/null && addr_in_use kube-apiserver && [[ "$attempt" -lt 5 ]]; then
    log "kube-apiserver lost a port race; retrying with a new port"
    sed -i '/^kube-apiserver /d' "$DIR/pids"
    read -r API_PORT < <(pick_ports 1)
    continue
  fi
  if kill -0 "$API_PID" 2>/dev/null; then
    fail_with_log kube-apiserver "kube-apiserver does not listen on 127.0.0.1:$API_PORT after 60s"
  fi
  fail_with_log kube-apiserver "kube-apiserver exited during start-up"
done

# ---- kubeconfig and env ------------------------------------------------------------------
SERVER="https://127.0.0.1:$API_PORT"
CA_B64="$(base64 -w0 <"$PKI/ca.crt")"
umask 077
cat >"$DIR/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: berth-local
  cluster:
    server: $SERVER
    certificate-authority-data: $CA_B64
users:
- name: berth-admin
  user:
    token: $TOKEN
contexts:
- name: berth-local
  context:
    cluster: berth-local
    user: berth-admin
    namespace: default
current-context: berth-local
KCFG
cat >"$DIR/env" <<ENV
# source this file: local berth control plane ($DIR)
export KUBECONFIG='$DIR/kubeconfig'
export BERTH_KUBE_SERVER='$SERVER'
export BERTH_KUBE_CA_FILE='$PKI/ca.crt'
export BERTH_KUBE_TOKEN_FILE='$PKI/admin.token'
export BERTH_ETCD_ENDPOINT='http://127.0.0.1:$ETCD_PORT'
ENV
# A kubectl built by build-kube-apiserver.sh (no other kubectl available) goes last on PATH.
if [[ -x "$CACHE_DIR/bin/kubectl" ]] && ! command -v kubectl >/dev/null 2>&1; then
  # shellcheck disable=SC2016  # $PATH expands when the env file is sourced
  printf 'export PATH="${PATH}:%s"\n' "$CACHE_DIR/bin" >>"$DIR/env"
fi
umask 022

# ---- readiness ---------------------------------------------------------------------------
if [[ "$WAIT" == 1 ]]; then
  log "waiting for $SERVER/readyz (timeout ${TIMEOUT}s)"
  deadline=$((SECONDS + TIMEOUT))
  ready=0
  while (( SECONDS < deadline )); do
    kill -0 "$API_PID" 2>/dev/null || fail_with_log kube-apiserver "kube-apiserver exited before it was ready"
    kill -0 "$ETCD_PID" 2>/dev/null || fail_with_log etcd "etcd exited while kube-apiserver was starting"
    if [[ "$(curl -sS --max-time 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN" \
              "$SERVER/readyz" 2>/dev/null)" == "ok" ]] \
       && curl -fsS --max-time 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN" \
              -o /dev/null "$SERVER/api/v1/namespaces/default" 2>/dev/null; then
      ready=1; break
    fi
    sleep 0.5
  done
  if [[ "$ready" != 1 ]]; then
    printf '[up] /readyz?verbose says:\n' >&2
    curl -sS --max-time 5 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN" "$SERVER/readyz?verbose" >&2 || true
    fail_with_log kube-apiserver "kube-apiserver not ready within ${TIMEOUT}s"
  fi
  log "ready: $SERVER"
fi
log "KUBECONFIG=$DIR/kubeconfig  (source $DIR/env; stop with: $HERE/down.sh --dir $DIR)"
