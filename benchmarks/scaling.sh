#!/usr/bin/env bash
# How training cost grows with the number of experts: `expertstream bench train` for
# E = 5, 10, 20, 40 (each in its own process, so peak memory is per configuration).
#
#   bash benchmarks/scaling.sh [ARCH] [THREADS]     # defaults: paper-fmnist 2
set -euo pipefail
cd "$(dirname "$0")/.."
arch="${1:-paper-fmnist}"
threads="${2:-2}"
swift build -c release --product expertstream > /dev/null
binary=.build/release/expertstream
printf '%-8s %10s %12s %12s %12s %14s %10s\n' experts "samples/s" "step ms" "MFLOP/sample" "GFLOP/s" "of sgemm 1024³" "peak MiB"
for experts in 5 10 20 40; do
  output=$("$binary" bench train --architecture "$arch" --gate attentive --experts "$experts" --threads "$threads")
  rate=$(sed -n 's/^samples\/s \([0-9]*\).*/\1/p' <<< "$output")
  memory=$(sed -n 's/.*peak memory \([0-9]*\) MiB.*/\1/p' <<< "$output")
  mflop=$(sed -n 's/^\([0-9.]*\) MFLOP per sample.*/\1/p' <<< "$output")
  gflops=$(sed -n 's/.*; \([0-9.]*\) GFLOP\/s, .*/\1/p' <<< "$output")
  fraction=$(sed -n 's/.* GFLOP\/s, \([0-9]*%\) of .*/\1/p' <<< "$output")
  step=$(awk -v r="$rate" 'BEGIN { printf "%.1f", 512 / r * 1000 }')
  printf '%-8s %10s %12s %12s %12s %14s %10s\n' "$experts" "$rate" "$step" "$mflop" "$gflops" "$fraction" "$memory"
done
