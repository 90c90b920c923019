#!/usr/bin/env bash
# Builds the API reference with the toolchain's own DocC: symbol graphs of the public API
# (`swift package dump-symbol-graph`),
# one archive per library module (`docc convert`, its catalog when the module has one),
# then one merged static site whose start page is ExpertStream's catalog (the module map).
# Prints each module's documentation coverage.
#
# Usage, from the package root: bash scripts/docs.sh [OUT]   (default .build/docs; the site
# is OUT/ExpertStream.doccarchive, static files)
set -euo pipefail
out=$(realpath -m "${1:-.build/docs}")
modules=(TensorCore NN MoE Datasets Continual Checkpoints Experiments Sweeps Reports Benchmarks)
rm -rf "$out"
mkdir -p "$out"
swift package dump-symbol-graph >/dev/null
symbols=$(swift build --show-bin-path)/../symbolgraph
archives=()
for module in "${modules[@]}"; do
  graphs="$out/graphs-$module"
  mkdir -p "$graphs"
  cp "$symbols/$module.symbols.json" "$graphs/"
  # Its extensions of other modules' types.
  cp "$symbols/$module@"*.symbols.json "$graphs/" 2>/dev/null || true
  catalog="Sources/$module/$module.docc"
  [ -d "$catalog" ] || catalog=""
  echo "== $module"
  docc convert $catalog --additional-symbol-graph-dir "$graphs" \
    --output-dir "$out/$module.doccarchive" --fallback-display-name "$module" \
    --fallback-bundle-identifier "org.expertstream.$module" \
    --experimental-documentation-coverage --coverage-summary-level brief \
    2>&1 | grep -v '^$' | sed -n '/Experimental coverage/,$p'
  archives+=("$out/$module.doccarchive")
done
# The start page: ExpertStream's catalog (the module map), an article root of its own.
docc convert Sources/ExpertStream/ExpertStream.docc --output-dir "$out/Start.doccarchive" \
  --fallback-display-name ExpertStream --fallback-bundle-identifier org.expertstream \
  >/dev/null
docc merge "$out/Start.doccarchive" "${archives[@]}" \
  --output-path "$out/ExpertStream.doccarchive" \
  --synthesized-landing-page-name ExpertStream >/dev/null
echo "site: $out/ExpertStream.doccarchive (serve it over HTTP and open /documentation/)"
# Every public symbol of the core modules has a summary, apart from the members a protocol
# conformance synthesises (==, hash, Codable, descriptions), which docc also lists.
python3 - "$out" <<'PYTHON'
import json, sys
synthesised = {"!=(_:_:)", "==(_:_:)", "hashValue", "hash(into:)", "localizedDescription",
               "init(rawValue:)", "init(from:)", "encode(to:)", "description", "next()",
               "next(upperBound:)"}
missing = []
for module in ["TensorCore", "NN", "MoE", "Continual", "Checkpoints"]:
    with open(f"{sys.argv[1]}/{module}.doccarchive/documentation-coverage.json") as file:
        for entry in json.load(file):
            title = entry.get("title", "")
            if entry.get("hasAbstract", True) or title in synthesised or "Implementations" in title:
                continue
            missing.append(f"{module}: {entry.get('referencePath', title)}")
for line in missing:
    print(f"undocumented: {line}")
sys.exit(1 if missing else 0)
PYTHON
echo "every public symbol of TensorCore, NN, MoE, Continual and Checkpoints is documented"
