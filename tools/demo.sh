#!/usr/bin/env bash
# make demo: start the built-in mock server on 127.0.0.1, run a real streaming chat profile against it, print the table.
set -euo pipefail
VENV=${1:-.venv}
PORT=${2:-8471}
AIPERF="$VENV/bin/aiperf"
LOG=$(mktemp)
"$AIPERF" mock-server --host 127.0.0.1 --port "$PORT" --ttft-ms 50 --itl-ms 5 --output-tokens 20 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$LOG" && break
  kill -0 $SERVER 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.05
done
grep -q "listening on" "$LOG" || { echo "mock server did not start"; cat "$LOG"; exit 1; }
echo "mock server: $(head -1 "$LOG")"
set -x
"$AIPERF" profile --model demo-model --tokenizer gpt2 --url "127.0.0.1:$PORT" --endpoint-type chat --streaming \
  --synthetic-input-tokens-mean 100 --output-tokens-mean 20 --concurrency 8 --request-count 200 \
  --export-level raw --artifact-dir artifacts/demo --ui-type simple
