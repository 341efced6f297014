#!/usr/bin/env bash
# cluster.sh: a local kvstore cluster in one command.
#
#   ./cluster.sh start [N] [--base-port P] [--tls]   N members on 127.0.0.1 (default 3)
#   ./cluster.sh stop | status | clean
#   ./cluster.sh kill NAME | restart NAME | logs NAME
#
# Client ports: 2379, 22379, 32379, ... (member i > 1 listens on P + i*10000);
# each peer port is its client port + 1, its /metrics and /health port + 2. Data, logs and pids live in .cluster/
# (or $KVSTORE_CLUSTER_DIR). The first start creates .venv and installs kvstore.
# --tls (on the first start): a throwaway CA and certificates in .cluster/tls/,
# https client URLs with mutual TLS (client certificate: tls/client.crt, CN root),
# and TLS between members too (on top of the peer secret).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")" && pwd)"
DIR="${KVSTORE_CLUSTER_DIR:-$ROOT/.cluster}"
# seconds stop and restart give a member to exit on SIGTERM before SIGKILL
STOP_GRACE="${KVSTORE_STOP_GRACE:-15}"
PY="$ROOT/.venv/bin/python"

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

ensure_venv() {
  if [ ! -x "$PY" ]; then
    echo "creating $ROOT/.venv ..."
    python3 -m venv "$ROOT/.venv"
  fi
  if ! "$PY" -c "import kvstore.api.server" >/dev/null 2>&1; then
    echo "installing kvstore into .venv ..."
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q -e "$ROOT"
  fi
}

client_port() { # member index (1-based), base port
  if [ "$1" -eq 1 ]; then echo "$2"; else echo $(( $2 + $1 * 10000 )); fi
}

member_names() { [ -f "$DIR/members" ] && cat "$DIR/members" || true; }

pid_alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# After SIGTERM: wait up to $STOP_GRACE s for member NAME to exit, then SIGKILL it
# (its data dir lock goes with the process: a member restarted on it can start)
await_exit() { # name
  local deadline=$((SECONDS + STOP_GRACE))
  while pid_alive "$1" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if pid_alive "$1"; then
    kill -9 "$(cat "$DIR/$1.pid")" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$DIR/$1.pid"
}

start_member() { # name
  local name="$1" line
  line="$(grep "^$name " "$DIR/members.conf")" || die "no member named $name"
  # shellcheck disable=SC2086
  set -- $line
  if pid_alive "$name"; then echo "$name is already running"; return; fi
  local scheme=http tls_flags=()
  if tls_on; then
    scheme=https
    tls_flags=(--cert-file "$DIR/tls/server.crt" --key-file "$DIR/tls/server.key"
      --trusted-ca-file "$DIR/tls/ca.crt" --client-cert-auth
      --peer-cert-file "$DIR/tls/peer.crt" --peer-key-file "$DIR/tls/peer.key"
      --peer-trusted-ca-file "$DIR/tls/ca.crt" --peer-client-cert-auth)
  fi
  "$PY" -m kvstore --name "$name" --data-dir "$DIR/$name" \
    --listen-client-urls "$scheme://127.0.0.1:$2" --advertise-client-urls "$scheme://127.0.0.1:$2" \
    --initial-cluster "$(cat "$DIR/initial-cluster")" --peer-secret-file "$DIR/secret" \
    --listen-metrics-urls "http://127.0.0.1:$(($2 + 2))" \
    "${tls_flags[@]}" --log-format text >>"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

tls_on() { [ -f "$DIR/tls/ca.crt" ]; }

endpoints() {
  local eps=""
  while read -r name port; do eps="${eps:+$eps,}127.0.0.1:$port"; done <"$DIR/members.conf"
  echo "$eps"
}

status_table() { # prints a table; exit 0 when a leader is known
  "$PY" - "$(endpoints)" "$DIR/members.conf" "$DIR/tls" <<'PYEOF'
import os
import sys
import grpc
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

eps = sys.argv[1].split(",")
names = [line.split()[0] for line in open(sys.argv[2]) if line.strip()]
tls = sys.argv[3]
creds = None
if os.path.exists(f"{tls}/ca.crt"):
    def read(name):
        with open(f"{tls}/{name}", "rb") as f:
            return f.read()
    creds = grpc.ssl_channel_credentials(read("ca.crt"), read("client.key"), read("client.crt"))
rows, leaders = [], set()
for name, ep in zip(names, eps):
    try:
        channel = grpc.secure_channel(ep, creds) if creds else grpc.insecure_channel(ep)
        with channel as ch:
            st = rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=1.5)
        is_leader = st.leader != 0 and st.leader == st.header.member_id
        if st.leader:
            leaders.add(st.leader)
        rows.append((name, ep, "*" if is_leader else "", str(st.header.revision),
                     str(st.raftIndex), f"{st.dbSize / 1024:.0f} KiB"))
    except grpc.RpcError as err:
        rows.append((name, ep, "", "-", "-", f"down ({err.code().name})"))
head = ("NAME", "ENDPOINT", "LEADER", "REVISION", "RAFT INDEX", "DB SIZE")
widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
for r in [head, *rows]:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
sys.exit(0 if leaders else 1)
PYEOF
}

# --- control plane: one controller-manager and one node agent per member ---------
# pids in $DIR/cm.pid and $DIR/agent-NAME.pid, logs next to them, agent data in
# $DIR/agent-NAME/. Agents run in $ROOT, so examples/ paths resolve.
start_control_plane() {
  local tls_flags=()
  if tls_on; then  # they connect with the client certificate, as kvctl does
    tls_flags=(--cacert "$DIR/tls/ca.crt" --cert "$DIR/tls/client.crt" --key "$DIR/tls/client.key")
  fi
  if ! pid_alive cm; then
    (cd "$ROOT" && exec "$PY" -m kvstore controller-manager --endpoints "$(endpoints)" \
      "${tls_flags[@]}" >>"$DIR/cm.log" 2>&1) &
    echo $! >"$DIR/cm.pid"
  fi
  local name
  while read -r name _; do
    pid_alive "agent-$name" && continue
    (cd "$ROOT" && exec "$PY" -m kvstore agent --node-name "node-$name" --endpoints "$(endpoints)" \
      "${tls_flags[@]}" --data-dir "$DIR/agent-$name" >>"$DIR/agent-$name.log" 2>&1) &
    echo $! >"$DIR/agent-$name.pid"
  done <"$DIR/members.conf"
  echo "control plane: controller-manager + $(wc -l <"$DIR/members.conf") agents (logs: $DIR/cm.log, $DIR/agent-*.log)"
}

stop_control_plane() {
  local f
  for f in "$DIR"/agent-*.pid "$DIR/cm.pid"; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$DIR"/agent-*.pid "$DIR/cm.pid"; do
    [ -f "$f" ] || continue
    local deadline=$((SECONDS + 30))
    while kill -0 "$(cat "$f")" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -9 "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

is_count() { [[ "$1" =~ ^[0-9]{1,5}$ ]]; }

cmd_start() {
  local n=3 base=2379 tls=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --tls) tls=1; shift ;;
      --base-port) [ $# -ge 2 ] || die "start: --base-port needs a port number"; base="$2"; shift 2 ;;
      --base-port=*) base="${1#*=}"; shift ;;
      [0-9]*) n="$1"; shift ;;
      *) die "start: unknown argument $1" ;;
    esac
  done
  is_count "$n" && [ "$n" -ge 1 ] || die "start: N must be a whole number, at least 1 (got '$n')"
  is_count "$base" && [ "$base" -ge 1 ] || die "start: --base-port must be a port number (got '$base')"
  if [ ! -f "$DIR/members.conf" ]; then
    local top=$(( $(client_port "$n" "$base") + 2 ))
    [ "$top" -le 65535 ] || die "start: with --base-port $base, member m$n would listen on port $top, past 65535 (member i > 1 uses P + i*10000: choose a lower base port or fewer members)"
  fi
  ensure_venv
  mkdir -p "$DIR"
  if [ -f "$DIR/members.conf" ]; then
    echo "reusing the cluster in $DIR (./cluster.sh clean to start afresh)"
  else
    [ -f "$DIR/secret" ] || "$PY" -c "import secrets; print(secrets.token_hex(32))" >"$DIR/secret"
    chmod 600 "$DIR/secret"
    : >"$DIR/members.conf"
    local ic="" i port
    for i in $(seq 1 "$n"); do
      port="$(client_port "$i" "$base")"
      echo "m$i $port" >>"$DIR/members.conf"
      ic="${ic:+$ic,}m$i=http://127.0.0.1:$((port + 1))"
    done
    echo "$ic" >"$DIR/initial-cluster"
    if [ "$tls" -eq 1 ]; then
      "$PY" -m kvstore.tlsgen "$DIR/tls" >/dev/null
      echo "generated a throwaway CA and certificates in $DIR/tls"
    fi
  fi
  if [ "$tls" -eq 1 ] && ! tls_on; then
    echo "note: this cluster was created without --tls (./cluster.sh clean to start afresh)"
  fi
  while read -r name _; do start_member "$name"; done <"$DIR/members.conf"
  local deadline=$((SECONDS + 60))
  until status_table >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { status_table || true; die "no leader after 60 s; see ./cluster.sh logs NAME"; }
    exited_members
    sleep 0.3
  done
  exited_members  # a majority may lead while a member could not start
  status_table
  start_control_plane
  echo
  echo "endpoints: $(endpoints)"
  if tls_on; then
    echo "try:       ETCDCTL_API=3 etcdctl --endpoints=$(endpoints | sed 's#127#https://127#g') --cacert $DIR/tls/ca.crt --cert $DIR/tls/client.crt --key $DIR/tls/client.key put hello world"
  else
    echo "try:       ETCDCTL_API=3 etcdctl --endpoints=$(endpoints | sed 's#127#http://127#g') put hello world"
  fi
}

exited_members() { # a member that exited while starting: stop waiting, show why
  local name _ dead=""
  while read -r name _; do
    pid_alive "$name" || dead="${dead:+$dead }$name"
  done <"$DIR/members.conf"
  [ -z "$dead" ] && return
  for name in $dead; do
    echo "$name exited while starting; the end of $DIR/$name.log:" >&2
    tail -n 3 "$DIR/$name.log" | sed 's/^/  /' >&2
  done
  die "not every member is running ($dead): fix the cause, then ./cluster.sh start again"
}

cmd_stop() {
  [ -f "$DIR/members.conf" ] || { echo "no cluster in $DIR"; return; }
  stop_control_plane
  while read -r name _; do
    if pid_alive "$name"; then kill "$(cat "$DIR/$name.pid")"; fi
  done <"$DIR/members.conf"
  while read -r name _; do
    await_exit "$name"
  done <"$DIR/members.conf"
  echo "stopped"
}

cmd_status() {
  [ -f "$DIR/members.conf" ] || die "no cluster in $DIR (./cluster.sh start)"
  ensure_venv
  status_table || true
}

cmd_kill() {
  [ $# -eq 1 ] || die "usage: ./cluster.sh kill NAME"
  pid_alive "$1" || die "$1 is not running"
  kill -9 "$(cat "$DIR/$1.pid")"
  rm -f "$DIR/$1.pid"
  echo "killed $1 (SIGKILL)"
}

cmd_restart() {
  [ $# -eq 1 ] || die "usage: ./cluster.sh restart NAME"
  ensure_venv
  if pid_alive "$1"; then
    kill "$(cat "$DIR/$1.pid")"
    await_exit "$1"
  fi
  start_member "$1"
  echo "restarted $1"
}

cmd_logs() {
  [ $# -eq 1 ] || die "usage: ./cluster.sh logs NAME"
  [ -f "$DIR/$1.log" ] || die "no log for $1"
  cat "$DIR/$1.log"
}

cmd_clean() {
  cmd_stop >/dev/null
  rm -rf "$DIR"
  echo "removed $DIR"
}

[ $# -ge 1 ] || usage
command="$1"; shift
case "$command" in
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  kill) cmd_kill "$@" ;;
  restart) cmd_restart "$@" ;;
  logs) cmd_logs "$@" ;;
  clean) cmd_clean ;;
  -h|--help|help) usage ;;
  *) echo "cluster.sh: unknown command $command" >&2; usage ;;
esac
