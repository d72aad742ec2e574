#!/usr/bin/env bash
# Captures real traffic into seed corpora for the fuzz targets: for each transport, `serve`
# runs its server, capture.py records every connection through a loopback proxy, and the
# quick scenario's own clients (`run --server NAME=PROXY`) plus kcat (pull-log) and curl
# (long-poll, SSE) talk to it. The files and folders users feed the harness seed the rest:
# scenarios/*.toml, results/baseline (summary, .hdr, .hlog). Seeds land in fuzz/corpus/<target>;
# run `cargo fuzz cmin` afterwards to keep the corpus small.
#
# Usage: fuzz/seeds/seed.sh [TRANSPORT-BENCH-BINARY]   (default target/release/transport-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."

bin="${1:-target/release/transport-bench}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first" >&2; exit 2; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) for a line matching $2 in file $1 and prints its last word.
await_line() {
  local file="$1" pattern="$2"
  for _ in $(seq 100); do
    if grep -q "$pattern" "$file" 2>/dev/null; then
      grep -m1 "$pattern" "$file" | awk '{print $NF}'
      return
    fi
    sleep 0.1
  done
  echo "timed out waiting for '$pattern' in $file" >&2
  exit 1
}

for t in raw-tcp long-poll websocket sse pull-log; do
  "$bin" serve --transport "$t" --bind 127.0.0.1:0 >"$work/$t.serve" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  addr="$(await_line "$work/$t.serve" 'listening on')"
  python3 fuzz/seeds/capture.py proxy --target "$addr" --out "$work/captures/$t" >"$work/$t.proxy" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  port="$(await_line "$work/$t.proxy" 'proxy on')"
  # raw-tcp is the floor itself; the others run without it.
  floor=(--no-baseline)
  [ "$t" = raw-tcp ] && floor=()
  timeout 120 "$bin" run scenarios/quick.toml --transport "$t" --server "$t=127.0.0.1:$port" \
    --duration 1s "${floor[@]}" -q --out "$work/results-$t" >/dev/null
  case "$t" in
    pull-log)
      printf 'one\ntwo\n' | timeout 30 kcat -b "127.0.0.1:$port" -P -t seeds
      timeout 30 kcat -b "127.0.0.1:$port" -C -t seeds -o beginning -e >/dev/null
      timeout 30 kcat -b "127.0.0.1:$port" -G seed-group -o beginning -e seeds >/dev/null || true
      ;;
    long-poll|sse)
      curl -s --max-time 5 -X POST -H 'content-type: application/json' \
        --data '{"messages":["aGVsbG8="]}' "http://127.0.0.1:$port/topics/curl/messages" >/dev/null
      curl -s --max-time 5 "http://127.0.0.1:$port/topics/curl/poll?cursor=0&timeout_ms=100" >/dev/null || true
      if [ "$t" = sse ]; then
        curl -s --max-time 1 -H 'Last-Event-ID: 0' "http://127.0.0.1:$port/topics/curl/events" >/dev/null || true
      fi
      ;;
  esac
  kill "$proxy_pid" "$serve_pid"
  wait "$proxy_pid" "$serve_pid" 2>/dev/null || true
done

python3 fuzz/seeds/capture.py split --captures "$work/captures" --corpus fuzz/corpus
mkdir -p fuzz/corpus/scenario fuzz/corpus/compare_summary fuzz/corpus/merge_shards fuzz/corpus/histogram_files
cp scenarios/*.toml fuzz/corpus/scenario/
for s in results/baseline/summary.json "$work"/results-*/*/summary.json "$work"/results-*/summary.json; do
  [ -f "$s" ] || continue
  name="$(sha1sum "$s" | cut -c1-40)"
  cp "$s" "fuzz/corpus/compare_summary/$name"
  cp "$s" "fuzz/corpus/merge_shards/$name"
done
hdrs=(results/baseline/runs/*.hdr)
hlogs=(results/baseline/runs/*.hlog)
for f in "${hdrs[@]:0:3}" "${hlogs[@]:0:3}"; do
  cp "$f" "fuzz/corpus/histogram_files/$(sha1sum "$f" | cut -c1-40)"
done
for d in fuzz/corpus/*/; do echo "$(basename "$d"): $(find "$d" -type f | wc -l) seeds"; done
