#!/usr/bin/env bash
# The same numbers on every CPU: runs the quick scenario and notebook 02's small paper block
# with the default release build and with one built for the x86-64 baseline (no AVX2 or
# AVX-512 in the engine's own code), and compares every checkpoint dataset and attribute and
# every metrics field bit for bit (scripts/compare-runs.sh). OpenBLAS's core type is varied
# too (SkylakeX for the first build, Sandybridge for the second): portable numerics must
# ignore it. Usage: bash scripts/check-identity.sh   (about 5 minutes on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

swift build -c release --product expertstream
EXPERTSTREAM_TARGET_CPU=x86-64 swift build -c release --product expertstream \
  --scratch-path .build/x86-64
native_build=$root/.build/release/expertstream
baseline_build=$root/.build/x86-64/release/expertstream

run_both() {  # DIRECTORY BINARY CORETYPE THREADS
  mkdir -p "$1"
  (
    cd "$1"
    OPENBLAS_CORETYPE=$3 "$2" run "$root/tasks/quick.json" --quiet --threads "$4" \
      --set checkpoint.directory=quick --metrics-json quick/metrics.json > /dev/null
    OPENBLAS_CORETYPE=$3 "$2" run "$root/tasks/paper-fashion-mnist.json" --quiet \
      --threads "$4" --method single,original,attentive+ls,distilled --seeds 1 \
      --set training.epochs=3 --set training.batch_size=128 --set paper.distillation_epochs=2 \
      --set dataset.train_samples_per_class=300 --set dataset.test_samples_per_class=100 \
      --set paper.distill_from=attentive+ls --metrics-json paper/metrics.json > /dev/null
  )
}
run_both "$work/a" "$native_build" SkylakeX 2
run_both "$work/b" "$baseline_build" Sandybridge 1
echo "default build (SkylakeX set, 2 threads) vs x86-64 build (Sandybridge set, 1 thread):"
bash scripts/compare-runs.sh "$work/a" "$work/b"
