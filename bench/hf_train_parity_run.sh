#!/usr/bin/env bash
# Training steps against transformers + PEFT, in fp32 and in fp16 (docs/benchmarks.md, "Training steps
# bit for bit"): medqa bench --save-adapters on MODEL, then bench/hf_train_parity.py repeats the same
# steps from the same initial adapter and compares each step's loss and gradient norm and the final
# adapter. Each precision runs with clipping at 1.0, and with --max-grad-norm 1e-3 so that every step
# is clipped; fp16 also from a loss scale of 3e7, which overflows first. Run from the repository root
# after `mvn -B -DskipTests package`; exit code 1 when a check fails.
#
#   bench/hf_train_parity_run.sh MODEL MEDQA_DEVICE HF_DEVICE [PYTHON]
#   bench/hf_train_parity_run.sh parity/tiny cpu cpu          # seconds on the tiny shape
#   bench/hf_train_parity_run.sh parity/qwen3-1.7b gpu cuda   # medqa on the Python stack's own torch
#
# MODEL is a folder such as bench/hf_parity.py make-model writes. Settings (environment): MEDQA
# (default scripts/medqa), OUT (default /tmp/train-parity: adapters, reports), MB x SEQ x ACCUM
# (default 2 x 64 x 2), STEPS (default 5), PRECISIONS (default "fp32 fp16").
set -uo pipefail
model=${1:?MODEL: a Qwen3 folder (bench/hf_parity.py make-model)}
mdev=${2:?MEDQA_DEVICE: cpu or gpu}
hdev=${3:?HF_DEVICE: cpu or cuda}
py=${4:-python3}
MEDQA=${MEDQA:-scripts/medqa}
OUT=${OUT:-/tmp/train-parity}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
failed=0
for precision in ${PRECISIONS:-fp32 fp16}; do
  # fp16 also from a loss scale of 3e7: steps overflow and are skipped until the scale, halved each
  # time and no longer a power of two, fits
  for run in clip1.0 clip1e-3 $([[ $precision == fp16 ]] && echo scale3e7); do
    name=$precision-$run
    steps=${STEPS:-5}
    case $run in
      clip*) flags="--max-grad-norm ${run#clip}" ;;
      scale*) flags="--loss-scale ${run#scale}"; steps=$(( steps + 8 )) ;;
    esac
    if ! "$MEDQA" bench --model "$model" --device "$mdev" --precision "$precision" --micro-batch "${MB:-2}" \
        --seq-len "${SEQ:-64}" --grad-accum "${ACCUM:-2}" --lora-dropout 0 --warmup 0 --steps "$steps" \
        $flags --save-adapters "$OUT/$name" --json > "$OUT/$name-medqa.json" 2> "$OUT/$name-medqa.err"; then
      failed=1; echo "$name: medqa bench failed"; tail -n 3 "$OUT/$name-medqa.err"; continue
    fi
    # fp16 clipped at 1.0 also runs PEFT twice: its distance from itself is the floor on a device
    # whose kernels accumulate in a nondeterministic order
    twice=$([[ $name == fp16-clip1.0 ]] && echo --twice)
    "$py" bench/hf_train_parity.py --model "$model" --medqa "$OUT/$name-medqa.json" --device "$hdev" $twice \
      > "$OUT/$name.txt" 2> "$OUT/$name.err"
    rc=$?
    [[ $rc -eq 0 ]] || failed=1
    echo "$name: $(head -n 2 "$OUT/$name.txt" | tr '\n' ' ')$(grep -h "PEFT against itself" "$OUT/$name.txt")"
    [[ $rc -eq 2 ]] && tail -n 2 "$OUT/$name.err"
  done
done
[[ $failed -eq 0 ]] && echo "all checks PASS" || echo "some check FAILED or did not run (reports in $OUT)"
exit $failed
