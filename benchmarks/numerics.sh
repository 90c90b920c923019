#!/usr/bin/env bash
# The cost of portable numerics: `bench train` (paper-fmnist attentive; paper-mnist
# attentive + L_s) and `bench ops`' sgemm 1024³ rate under portable (OpenBLAS Haswell
# kernels on every CPU) and native numerics (the CPU's own core type), interleaved over
# ROUNDS rounds in one run; prints the best samples/s of each and the ratio, then the
# per-op table of `bench ops` under each.
# Usage: bash benchmarks/numerics.sh [ROUNDS]   (default 3; build with -c release first)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=.build/release/expertstream
rounds=${1:-3}
grep -m1 'model name' /proc/cpuinfo
declare -A best
for round in $(seq "$rounds"); do
  for numerics in portable native; do
    for arch in "paper-fmnist" "paper-mnist --ls 1e-6,1e-2"; do
      rate=$(EXPERTSTREAM_NUMERICS=$numerics $binary bench train --architecture $arch --threads 2 |
        awk '/^samples\/s/ { print $2 }')
      key="$numerics ${arch%% *}"
      (( ${best[$key]:-0} >= rate )) || best[$key]=$rate
    done
  done
done
for arch in paper-fmnist paper-mnist; do
  p=${best["portable $arch"]}; n=${best["native $arch"]}
  echo "bench train $arch: portable $p samples/s, native $n samples/s," \
    "portable/native $(awk -v p="$p" -v n="$n" 'BEGIN { printf "%.2f", p / n }')"
done
for numerics in portable native; do
  echo "bench ops, $numerics numerics:"
  EXPERTSTREAM_NUMERICS=$numerics $binary bench ops | grep -E '^(sgemm 1024|op |linear|conv2d|distance)'
done
