#!/usr/bin/env bash
# Compares the outputs of two runs bit for bit: every HDF5 checkpoint (every dataset and
# attribute, floats printed with 17 significant digits, so equal text means equal bits) and
# every metrics JSON file under DIR_A against the same path under DIR_B. Timings (attributes
# and fields whose name contains "second"), the writing tool's version and the digests that
# cover them (content_sha256) are left out.
# COMPARE_RUNS_IGNORE=REGEX leaves out more names (for example "numerics", to compare the
# data of runs made with portable and native numerics).
# Usage: scripts/compare-runs.sh DIR_A DIR_B     (exit 0: identical; 1: a difference)
set -euo pipefail
ignored="second|tool_version|content_sha256${COMPARE_RUNS_IGNORE:+|$COMPARE_RUNS_IGNORE}"
a=${1:?usage: compare-runs.sh DIR_A DIR_B}
b=${2:?usage: compare-runs.sh DIR_A DIR_B}

# h5dump's text of a checkpoint without its file-name line, timing attributes and version.
normalised_h5() {
  h5dump -m '%.17g' "$1" | tail -n +2 | awk -v ignored="$ignored" '
    skipping && $0 == indent "}" { skipping = 0; next }
    skipping { next }
    match($0, "^ *ATTRIBUTE \"[^\"]*(" ignored ")[^\"]*\"") {
      indent = substr($0, 1, index($0, "A") - 1); skipping = 1; next
    }
    { print }'
}
# A pretty-printed metrics file without its timing fields (a value, array or object each).
normalised_json() {
  awk -v ignored="$ignored" '
    skipping && ($0 == indent "]" || $0 == indent "]," || $0 == indent "}" || $0 == indent "},") {
      skipping = 0; next
    }
    skipping { next }
    match($0, "^ *\"[^\"]*(" ignored ")[^\"]*\" : ") {
      if ($0 ~ /[[{]$/) { indent = substr($0, 1, index($0, "\"") - 1); skipping = 1 }
      next
    }
    { print }' "$1"
}

compared=0
while IFS= read -r relative; do
  [[ -f "$b/$relative" ]] || { echo "only in $a: $relative"; exit 1; }
  case "$relative" in
    *.h5) diff <(normalised_h5 "$a/$relative") <(normalised_h5 "$b/$relative") > /tmp/compare-runs.$$ ;;
    *.json) diff <(normalised_json "$a/$relative") <(normalised_json "$b/$relative") > /tmp/compare-runs.$$ ;;
  esac || { echo "differs: $relative"; head -20 /tmp/compare-runs.$$; rm -f /tmp/compare-runs.$$; exit 1; }
  compared=$((compared + 1))
done < <(cd "$a" && find . -type f \( -name '*.h5' -o -name '*.json' \) | sort)
rm -f /tmp/compare-runs.$$
while IFS= read -r relative; do
  [[ -f "$a/$relative" ]] || { echo "only in $b: $relative"; exit 1; }
done < <(cd "$b" && find . -type f \( -name '*.h5' -o -name '*.json' \) | sort)
(( compared > 0 )) || { echo "no checkpoint or metrics file in $a"; exit 1; }
echo "identical: $compared files (every dataset and attribute but timings)"
