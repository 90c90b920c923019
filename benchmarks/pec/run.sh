#!/usr/bin/env bash
# PEC (Zając et al., ICLR 2024), the authors' reference code, on this machine: their
# Table 1 one-pass, batch-1 protocol, one thread, under /usr/bin/time -v.
#
# Usage (from anywhere): benchmarks/pec/run.sh [mnist|fashion-mnist] [seeds...]   (seeds default: 1 2 3)
#
# Environment:
#   PEC_MIRROR    a git directory holding PEC's repository (required; its HEAD is exported)
#   PEC_PYTHON    Python with benchmarks/pec/requirements.txt installed (default /work/pec-venv/bin/python)
#   PEC_WORK      scratch directory outside this repository (default /tmp/pec-work); PEC's
#                 code is exported to PEC_WORK/code and the IDX files unpacked to PEC_WORK/data
#   MNIST_DIR     directory with the four MNIST IDX files, .gz or not (required for mnist)
#   FASHION_DIR   same for FashionMNIST (default /usr/share/datasets/fashion-mnist)
#   PEC_CPU       CPU that the run is pinned to with taskset (default 0; empty: no pinning)
#   PEC_NICE      niceness (default 5)
#   PEC_CLASSES_PER_TASK  PEC's --classes_per_task (default 1, as in PEC's scripts; see README)
#   PEC_RESULTS   where results go (default benchmarks/pec/results)
#   PEC_EXTRA_ARGS  more arguments for PEC (e.g. --debug_mode=True for a smoke test)
#
# Writes PEC_RESULTS/<dataset>-s<seed>.{log,time.txt,json}.
set -euo pipefail

dataset=${1:?usage: $0 mnist|fashion-mnist [seeds...]}
shift
seeds=${*:-1 2 3}
here=$(cd "$(dirname "$0")" && pwd)
results=${PEC_RESULTS:-$here/results}
PEC_PYTHON=${PEC_PYTHON:-/work/pec-venv/bin/python}
PEC_MIRROR=${PEC_MIRROR:?set PEC_MIRROR to a git directory holding PEC (github michalzajac-ml/pec)}
PEC_WORK=${PEC_WORK:-/tmp/pec-work}
PEC_CPU=${PEC_CPU-0}
PEC_NICE=${PEC_NICE:-5}
PEC_CLASSES_PER_TASK=${PEC_CLASSES_PER_TASK:-1}

case "$dataset" in
  mnist)
    src=${MNIST_DIR:?set MNIST_DIR to a directory holding the four MNIST IDX files}
    pec_dataset=seq-mnist; root=MNIST; classes="MyMNIST MNIST" ;;
  fashion-mnist)
    src=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
    pec_dataset=seq-fashion-mnist; root=FashionMNIST; classes="MyFashionMNIST FashionMNIST" ;;
  *) echo "unknown dataset '$dataset' (mnist or fashion-mnist)" >&2; exit 2 ;;
esac

# 1. PEC's code, exported from the mirror into PEC_WORK/code (never into this repository).
code=$PEC_WORK/code
rm -rf "$code"
mkdir -p "$code"
git --git-dir="$PEC_MIRROR" archive HEAD | tar -x -C "$code"
pec_commit=$(git --git-dir="$PEC_MIRROR" rev-parse HEAD)

# 2. Split-FashionMNIST: PEC ships only seq_mnist.py. Its copy seq_fashion_mnist.py is the
#    same file with torchvision's FashionMNIST class in place of MNIST and the dataset named
#    seq-fashion-mnist; nothing else (same ToTensor transform, no normalisation, same
#    28x28x1 shape), so PEC runs it with the MNIST hyperparameters.
sed -e 's/^from torchvision.datasets import MNIST$/from torchvision.datasets import FashionMNIST/' \
    -e 's/MyMNIST/MyFashionMNIST/g' \
    -e 's/SequentialMNIST/SequentialFashionMNIST/g' \
    -e 's/class MyFashionMNIST(MNIST)/class MyFashionMNIST(FashionMNIST)/' \
    -e 's/= MNIST(/= FashionMNIST(/' \
    -e 's/NAME = "seq-mnist"/NAME = "seq-fashion-mnist"/' \
    -e 's/base_path() + "MNIST"/base_path() + "FashionMNIST"/g' \
    "$code/datasets/seq_mnist.py" > "$code/datasets/seq_fashion_mnist.py"
# No plain MNIST class may be left (MNISTMLP, the unused baseline backbone, and a comment stay).
if grep -nE '(^|[^A-Za-z])MNIST\(|import MNIST$' "$code/datasets/seq_fashion_mnist.py"; then
  echo "seq_fashion_mnist.py adaptation left a plain MNIST reference" >&2; exit 1
fi

# 3. Data: torchvision's (Fashion)MNIST class reads ROOT/<ClassName>/raw/<file> (unzipped)
#    and skips its download when the files are there. PEC uses two classes per dataset
#    (its My* subclass for training, the plain one for testing): both raw folders point at
#    one unpacked copy.
data=$PEC_WORK/data
raw=$data/$root/raw-idx
mkdir -p "$raw"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ -f "$src/$f" ]; then cp "$src/$f" "$raw/$f"
  elif [ -f "$src/$f.gz" ]; then gunzip -c "$src/$f.gz" > "$raw/$f"
  else echo "missing $src/$f(.gz)" >&2; exit 1; fi
done
for c in $classes; do
  mkdir -p "$data/$root/$c"
  ln -sfn "$raw" "$data/$root/$c/raw"
done

# 4. The runs: PEC's scripts/table1/mnist/pec.sh arguments, plus --nowandb (no network
#    logging) and --verbose=False (its per-step progress bar, ~60k lines, off).
cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
pin=()
[ -n "$PEC_CPU" ] && pin=(taskset -c "$PEC_CPU")
mkdir -p "$results"
for seed in $seeds; do
  name=$results/$dataset-s$seed
  echo "PEC $dataset seed $seed -> $name.{log,time.txt,json}  ($(date -u +%H:%M:%S) UTC)"
  summary=$PEC_WORK/summary-$dataset-s$seed.json
  rm -f "$summary"
  env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=disabled PEC_THREADS=1 \
      PEC_CODE_DIR="$code" PEC_DATA_DIR="$data" PEC_SUMMARY="$summary" \
    nice -n "$PEC_NICE" /usr/bin/time -v -o "$name.time.txt" "${pin[@]}" \
    "$PEC_PYTHON" "$here/pec_timed.py" \
      --seed="$seed" --dataset="$pec_dataset" --model=pec --n_epochs=1 \
      --classes_per_task="$PEC_CLASSES_PER_TASK" --optim_scheduler=linear --eval_every_n_task=1000 \
      --force_no_augmentations=True --batch_size=1 --lr=0.01 \
      --pec_architecture=mlp --pec_activation=gelu \
      --pec_teacher_width_multiplier=500 --pec_width=10 --pec_output_dim=99 \
      --nowandb=True --verbose=False ${PEC_EXTRA_ARGS:-} \
      > "$name.log" 2>&1
  # Keep the committed log short.
  if [ "$(wc -l < "$name.log")" -gt 200 ]; then
    { head -n 40 "$name.log"; echo "[... cut ...]"; tail -n 120 "$name.log"; } > "$name.log.tmp"
    mv "$name.log.tmp" "$name.log"
  fi
  "$PEC_PYTHON" - "$summary" "$name.time.txt" "$name.json" "$dataset" "$seed" "$cpu_model" "$pec_commit" <<'EOF'
import json, re, sys
summary_path, time_path, out_path, dataset, seed, cpu, commit = sys.argv[1:]
s = json.load(open(summary_path))
t = open(time_path).read()
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
system = float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
row = {
    "dataset": dataset,
    "seed": int(seed),
    "final_class_il_accuracy": round(s["final_class_il_accuracy"], 2),
    "training_seconds": round(s["training_seconds"], 1),
    "training_seconds_source": s["training_seconds_source"],
    "evaluation_seconds": round(s["evaluation_seconds"], 1),
    "wall_seconds": round(secs, 1),
    "cpu_seconds": round(user + system, 1),
    "peak_rss_mb": round(rss_kb / 1024, 1),
    "peak_rss_source": "/usr/bin/time -v Maximum resident set size (largest single process), MiB",
    "torch_version": s["torch_version"],
    "torch_threads": s["torch_threads"],
    "classes_per_task": s["pec_args"]["classes_per_task"],
    "cpu_model": cpu,
    "pec_commit": commit,
}
with open(out_path, "w") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps(row))
EOF
done
