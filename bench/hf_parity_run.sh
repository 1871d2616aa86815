#!/usr/bin/env bash
# The whole check of docs/benchmarks.md, "Correctness against transformers", in one go: the script's
# selftest; a random-weight model of SHAPE made by transformers, medqa's fp32 and fp16 logits on it
# against transformers; an adapter `medqa train` makes (30 steps on the tiny shape with the demo's
# byte-level tokenizer and data) against PEFT, fp32 and fp16. Run from the repository root, after
# `mvn -B -DskipTests package`. Reports (JSON) and logs go to $OUT; exit code 1 when any check fails.
#
#   bench/hf_parity_run.sh SHAPE MEDQA_DEVICE HF_DEVICE [PYTHON]
#   bench/hf_parity_run.sh tiny cpu cpu                        # about 2 minutes on 2 CPU cores
#   OUT=parity-out bench/hf_parity_run.sh qwen3-1.7b gpu cuda  # medqa on the GPU needs a CUDA libtorch (README)
#
# P (default /tmp/parity) holds the models and logits: about 3.5 GB for qwen3-1.7b. MEDQA (default
# scripts/medqa) is the medqa launcher, e.g. medqa/bin/medqa of a scripts/bundle folder. SKIP_LORA=1
# leaves out the adapter checks, ONLY_LORA=1 runs only them (two shorter runs instead of one).
set -uo pipefail
shape=${1:?SHAPE: qwen3-1.7b, qwen3-0.6b or tiny}
mdev=${2:?MEDQA_DEVICE: cpu or gpu}
hdev=${3:?HF_DEVICE: cpu or cuda}
py=${4:-python3}
P=${P:-/tmp/parity}
OUT=${OUT:-$P/out}
MEDQA=${MEDQA:-scripts/medqa}
export PYTHONUNBUFFERED=1
mkdir -p "$P" "$OUT"
failed=0

verdict() { # name, JSON report
  "$py" -c 'import json, sys
r = json.load(open(sys.argv[2]))
print(sys.argv[1], r["verdict"], " ".join("%s=%.3g" % (k, v["max_abs"]) for k, v in r["runs"].items()))' "$1" "$2" \
    2>/dev/null || { echo "$1: no report (see ${2%.json}.err)"; tail -3 "${2%.json}.err"; }
}

compare() { # name, model, medqa file, extra flags...
  local name=$1 model=$2 file=$3
  shift 3
  "$py" bench/hf_parity.py compare --model "$model" --medqa "$file" --device "$hdev" --json "$@" \
    > "$OUT/$name.json" 2> "$OUT/$name.err"
  local rc=$?
  [[ $rc -eq 0 ]] || failed=1
  verdict "$name" "$OUT/$name.json"
}

if [[ -z "${ONLY_LORA:-}" ]]; then
"$py" bench/hf_parity.py selftest --out "$P/selftest" > "$OUT/selftest.log" 2>&1 || failed=1
echo "selftest: $(tail -n 1 "$OUT/selftest.log")"

"$py" bench/hf_parity.py make-model --shape "$shape" --out "$P/$shape" --seed 0 --dtype bfloat16 --force \
  2> "$OUT/make-model.err" | tee "$OUT/make-model.log" || { failed=1; tail -3 "$OUT/make-model.err"; }
for d in fp32 fp16; do
  "$MEDQA" logits --model "$P/$shape" --device "$mdev" --dtype "$d" --out "$P/$shape-$d.safetensors" || failed=1
  compare "$shape-$d" "$P/$shape" "$P/$shape-$d.safetensors"
done

fi

if [[ -z "${SKIP_LORA:-}" ]]; then
"$py" bench/hf_parity.py make-model --shape tiny --out "$P/lora-base" --seed 0 --force 2> "$OUT/lora-base.err" \
  || { failed=1; tail -3 "$OUT/lora-base.err"; }
sed -e 's/^\(  max_steps:\) *0 /\1 30 /' -e 's/^\(  save_best:\) *true/\1 false/' configs/demo.yaml > "$P/demo30.yaml"
"$MEDQA" demo --dir "$P/demo" --config "$P/demo30.yaml" > "$OUT/demo.log" 2>&1 || { failed=1; tail -3 "$OUT/demo.log"; }
cp "$P/demo/model/tokenizer.json" "$P/demo/model/tokenizer_config.json" "$P/lora-base/"
"$MEDQA" train --config "$P/demo30.yaml" --overwrite --set model.path="$P/lora-base" \
  --set data.train="$P/demo/data/train.jsonl" --set data.validation="$P/demo/data/validation.jsonl" \
  --set data.test="$P/demo/data/test.jsonl" --set output.dir="$P/lora-run" --set device="$mdev" \
  > "$OUT/train.log" 2>&1 || failed=1
tail -n 1 "$OUT/train.log"
for d in fp32 fp16; do
  "$MEDQA" logits --model "$P/lora-base" --adapter "$P/lora-run" --device "$mdev" --dtype "$d" \
    --out "$P/lora-$d.safetensors" || failed=1
  compare "lora-$d" "$P/lora-base" "$P/lora-$d.safetensors" --adapter "$P/lora-run"
done

fi

[[ $failed -eq 0 ]] && echo "all checks PASS" || echo "some check FAILED or did not run (logs in $OUT)"
exit $failed
