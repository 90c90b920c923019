#!/usr/bin/env bash
# A screenshot of TensorBoard's scalars page for the event files under LOG_DIR: starts
# TensorBoard on 127.0.0.1 in the background, waits until it answers, takes the picture
# with headless Chromium, and stops the TensorBoard it started.
#
# Usage: bash scripts/tensorboard-screenshot.sh LOG_DIR OUTPUT.png [PORT]
# Needs: python3 -m pip install tensorboard; apt-get install chromium.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 LOG_DIR OUTPUT.png [PORT]" >&2
  exit 2
fi
log_dir=$1
output=$2
port=${3:-6123}
url="http://127.0.0.1:$port"
# The scalars dashboard, unsmoothed: the charts show the values as logged.
page="$url/#scalars&_smoothingWeight=0"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "$0: Chromium not found (apt-get install chromium)" >&2
  exit 1
fi

python3 -m tensorboard.main --logdir "$log_dir" --host 127.0.0.1 --port "$port" \
  > "${TMPDIR:-/tmp}/tensorboard-$port.log" 2>&1 &
tensorboard=$!
trap 'kill "$tensorboard" 2> /dev/null || true' EXIT

for _ in $(seq 60); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1])" \
    "$url/data/runs" 2> /dev/null; then
    break
  fi
  if ! kill -0 "$tensorboard" 2> /dev/null; then
    echo "$0: TensorBoard exited; see ${TMPDIR:-/tmp}/tensorboard-$port.log" >&2
    exit 1
  fi
  sleep 1
done

mkdir -p "$(dirname "$output")"
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1400,1000 --virtual-time-budget=15000 \
  --screenshot="$output" "$page" 2> /dev/null
echo "screenshot of $page written to $output"
