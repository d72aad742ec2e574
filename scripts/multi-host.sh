#!/usr/bin/env bash
# One scenario across machines reached with plain ssh: `transport-bench serve` on one host, one
# load shard (`run --shard I/N`) on each of N others, all starting warm-up at one instant, then
# the shards' results folders copied back and merged (`merge`). The tool itself never
# coordinates hosts; this script is the orchestrator, as a Kubernetes Job would be.
#
# Usage:
#   scripts/multi-host.sh --server-host HOST --load-hosts H1,H2[,...] --transport NAME
#                         [options] SCENARIO
#
#   --server-host HOST     ssh destination that runs `serve` ([user@]host)
#   --load-hosts LIST      comma-separated ssh destinations, one shard each (shard i of N in order)
#   --transport NAME       the transport to serve and load (see `transport-bench list`)
#   --server-address ADDR  how load hosts reach the server (default: HOST without user@)
#   --bind IP              address serve binds on its host (default 0.0.0.0)
#   --port P               client port (default 8080; 0 = any free port, read from serve's output)
#   --metrics-port P       metrics port (default 9100; 0 = any free port)
#   --lead SECONDS         how far ahead the common start instant is set (default 20): enough
#                          for every shard to start and connect its clients
#   --bin PATH             transport-bench on the remote hosts (default: transport-bench)
#   --local-bin PATH       transport-bench here, for `merge` (default: the one in PATH, else
#                          target/release/transport-bench)
#   --out DIR              where shard-I/ and merged/ go (default results/multi-host/<UTC time>)
#
# Environment: SSH and SCP (default `ssh` and `scp`) are the commands used, e.g.
# SSH="ssh -i key -o BatchMode=yes". Every host needs the binary; GNU date is needed here.
# Exit code: 0 ok, 2 bad input, 3 the server or a shard failed (what exists is still merged).
set -euo pipefail

SSH="${SSH:-ssh}"
SCP="${SCP:-scp}"
SERVER_HOST="" LOAD_HOSTS="" TRANSPORT="" SERVER_ADDRESS="" BIND="0.0.0.0"
PORT=8080 METRICS_PORT=9100 LEAD=20 BIN="transport-bench" LOCAL_BIN="" OUT="" SCENARIO=""

usage() { sed -n '2,30p' "$0"; }
bad() { echo "multi-host.sh: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --server-host) SERVER_HOST="$2"; shift 2 ;;
        --load-hosts) LOAD_HOSTS="$2"; shift 2 ;;
        --transport) TRANSPORT="$2"; shift 2 ;;
        --server-address) SERVER_ADDRESS="$2"; shift 2 ;;
        --bind) BIND="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        --metrics-port) METRICS_PORT="$2"; shift 2 ;;
        --lead) LEAD="$2"; shift 2 ;;
        --bin) BIN="$2"; shift 2 ;;
        --local-bin) LOCAL_BIN="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) bad "unknown option $1 (see --help)" ;;
        *) [[ -z "$SCENARIO" ]] || bad "one scenario only, got $SCENARIO and $1"; SCENARIO="$1"; shift ;;
    esac
done
[[ -n "$SERVER_HOST" ]] || bad "--server-host is required"
[[ -n "$LOAD_HOSTS" ]] || bad "--load-hosts is required"
[[ -n "$TRANSPORT" ]] || bad "--transport is required"
[[ -n "$SCENARIO" && -f "$SCENARIO" ]] || bad "scenario file not found: '${SCENARIO}'"
for n in "$PORT" "$METRICS_PORT" "$LEAD"; do
    [[ "$n" =~ ^[0-9]+$ ]] || bad "ports and --lead must be whole numbers, got $n"
done
IFS=',' read -r -a LOADS <<< "$LOAD_HOSTS"
N=${#LOADS[@]}
SERVER_ADDRESS="${SERVER_ADDRESS:-${SERVER_HOST#*@}}"
if [[ -z "$LOCAL_BIN" ]]; then
    LOCAL_BIN="$(command -v transport-bench || echo "$(dirname "$0")/../target/release/transport-bench")"
fi
[[ -x "$LOCAL_BIN" ]] || bad "no local transport-bench for merge at $LOCAL_BIN (build it or give --local-bin)"
"$LOCAL_BIN" validate "$SCENARIO" >/dev/null || bad "the scenario does not validate"
OUT="${OUT:-results/multi-host/$(date -u +%Y-%m-%dT%H-%M-%SZ)}"
mkdir -p "$OUT"

# Everything on the remote hosts lives under one folder named for this run, removed at the end.
RUN="tb-multi-host-$(date -u +%s)-$$"
REMOTE="/tmp/$RUN"
# Stops serve (SIGTERM, up to 10 s, then SIGKILL) and removes the run's folders, on every exit.
STOP_SERVE="p=\$(cat $REMOTE/serve.pid 2>/dev/null) || exit 0; kill \$p 2>/dev/null
for _ in \$(seq 100); do kill -0 \$p 2>/dev/null || exit 0; sleep 0.1; done; kill -9 \$p"
cleanup() {
    "$SSH" "$SERVER_HOST" "$STOP_SERVE" || true
    "$SSH" "$SERVER_HOST" "rm -rf $REMOTE" || true
    for h in "${LOADS[@]}"; do "$SSH" "$h" "rm -rf $REMOTE" || true; done
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap, so the server is stopped then too.
trap 'exit 3' INT TERM HUP

echo "== serve $TRANSPORT on $SERVER_HOST"
# The folder exists before serve starts (`a && b & c` would background the mkdir too).
"$SSH" "$SERVER_HOST" "mkdir -p $REMOTE || exit 1; nohup $BIN serve --transport $TRANSPORT --bind $BIND:$PORT --metrics $BIND:$METRICS_PORT >$REMOTE/serve.out 2>$REMOTE/serve.err </dev/null & echo \$! >$REMOTE/serve.pid"
# serve prints `NAME listening on ADDR` then `metrics on URL` once both accept connections.
announced=""
for _ in $(seq 60); do
    announced="$("$SSH" "$SERVER_HOST" "cat $REMOTE/serve.out")"
    grep -q '^metrics on ' <<< "$announced" && break
    "$SSH" "$SERVER_HOST" "kill -0 \$(cat $REMOTE/serve.pid)" \
        || { "$SSH" "$SERVER_HOST" "cat $REMOTE/serve.err" >&2; echo "serve exited" >&2; exit 3; }
    sleep 0.5
done
grep -q '^metrics on ' <<< "$announced" || { echo "serve did not announce its addresses within 30 s" >&2; exit 3; }
PORT="$(sed -n 's/.* listening on .*:\([0-9]*\)$/\1/p' <<< "$announced" | head -n1)"
METRICS_PORT="$(sed -n 's|^metrics on http://.*:\([0-9]*\)/metrics$|\1|p' <<< "$announced" | head -n1)"
SERVER="$TRANSPORT=$SERVER_ADDRESS:$PORT"
METRICS="$TRANSPORT=http://$SERVER_ADDRESS:$METRICS_PORT/metrics"
echo "   clients: $SERVER_ADDRESS:$PORT, metrics: http://$SERVER_ADDRESS:$METRICS_PORT/metrics"

for i in "${!LOADS[@]}"; do
    "$SSH" "${LOADS[$i]}" "mkdir -p $REMOTE"
    "$SCP" -q "$SCENARIO" "${LOADS[$i]}:$REMOTE/scenario.toml"
done
START_AT="$(date -u -d "+$LEAD seconds" +%Y-%m-%dT%H:%M:%SZ)"
echo "== $N shards start warm-up at $START_AT"
pids=()
for i in "${!LOADS[@]}"; do
    "$SSH" "${LOADS[$i]}" "$BIN run $REMOTE/scenario.toml -q --transport $TRANSPORT --no-baseline --out $REMOTE/shard-$i --shard $i/$N --server $SERVER --server-metrics $METRICS --start-at $START_AT" \
        >"$OUT/shard-$i.log" 2>&1 &
    pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
        echo "   shard $i/$N on ${LOADS[$i]}: ok"
    else
        echo "   shard $i/$N on ${LOADS[$i]}: failed (see $OUT/shard-$i.log)" >&2
        status=3
    fi
done

echo "== collect and merge into $OUT/merged"
shards=()
for i in "${!LOADS[@]}"; do
    if "$SCP" -q -r "${LOADS[$i]}:$REMOTE/shard-$i" "$OUT/shard-$i"; then
        shards+=("$OUT/shard-$i")
    else
        echo "   no results from shard $i" >&2
        status=3
    fi
done
[[ ${#shards[@]} -eq "$N" ]] || { echo "cannot merge: ${#shards[@]} of $N shards came back" >&2; exit 3; }
"$LOCAL_BIN" merge "${shards[@]}" --out "$OUT/merged" >/dev/null
echo "merged: $OUT/merged/summary.json, $OUT/merged/report.md"
exit "$status"
