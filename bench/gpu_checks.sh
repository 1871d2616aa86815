#!/usr/bin/env bash
# medqa's checks on a GPU machine in one bounded run: a smoke bench, the side-by-side benches (medqa with
# SDPA and with eager attention, transformers + PEFT), logits against transformers, the reference recipe
# end to end, the demo, and an adapter through PEFT. Each stage is timed and bounded; a failed stage does
# not stop the later ones; stages are skipped once BUDGET seconds are used. Run from the repository root
# with medqa already pointed at a CUDA libtorch (README, GPUs; scripts/use-python-torch).
#
#   bench/gpu_checks.sh [STAGE...]     STAGE: smoke bench peft eager parity ref demo lora pertensor
#                                      peft-foreach steps (default: smoke bench peft eager parity ref; a
#                                      second run can do the rest: pertensor and peft-foreach are the two
#                                      benches with --optim adamw_torch, the per-tensor / torch-default
#                                      AdamW; steps compares training steps with PEFT's, fp32 and fp16)
#   OUT=results MEDQA=medqa/bin/medqa bench/gpu_checks.sh bench peft
#
# Settings (environment): MEDQA (launcher, default scripts/medqa), PY (python3), DEV (gpu; cpu for a
# rehearsal), SHAPE (qwen3-1.7b), MB x SEQ (4 x 512), STEPS (10), PEAK (989, the dense fp16 TFLOP/s of an
# H100/H200 SXM), BUDGET (540 s), WORK (/tmp/medqa-gpu: models, runs, logs), OUT (results: summary.txt,
# medqa-bench.json, medqa-eager.json, peft-bench.json, medqa-pertensor.json, peft-foreach.json, logs.tgz). The reference recipe needs REF_DATA
# (a MedMCQA JSONL of 2,000 rows) and TOKENIZER (a folder with Qwen3's tokenizer.json and
# tokenizer_config.json); REF_SHAPE (default SHAPE) and REF_SET (extra --set flags or --dry-run) adjust it.
set -u
R=$(cd "$(dirname "$0")/.." && pwd); cd "$R"
W=${WORK:-/tmp/medqa-gpu}; O=${OUT:-$W/out}; L=$W/logs; mkdir -p "$O" "$L"
S=$O/summary.txt; BUDGET=${BUDGET:-540}; T0=$(date +%s)
M=${MEDQA:-scripts/medqa}; PY=${PY:-python3}; DEV=${DEV:-gpu}; SHAPE=${SHAPE:-qwen3-1.7b}
MB=${MB:-4}; SEQ=${SEQ:-512}; STEPS=${STEPS:-10}; PEAK=${PEAK:-989}
HDEV=$([[ $DEV == gpu ]] && echo cuda || echo cpu)
stages=${*:-smoke bench peft eager parity ref}
export PYTHONUNBUFFERED=1
note() { echo "$*" | tee -a "$S"; }
stage() { # name seconds command...: the command's output in $L/name.log, its last TAILN lines in the summary
  local n=$1 s=$2; shift 2
  local used=$(( $(date +%s) - T0 ))
  if (( used + 15 > BUDGET )); then note "[$n] skipped: ${used}s used of ${BUDGET}s"; return 99; fi
  (( s > BUDGET - used )) && s=$(( BUDGET - used ))
  local t=$(date +%s%N)
  timeout -k 5 "$s" "$@" > "$L/$n.log" 2>&1; local rc=$?
  note "[$n] rc=$rc $(( ($(date +%s%N) - t) / 1000000 )) ms"
  tail -n "${TAILN:-3}" "$L/$n.log" | cut -c1-600 | sed 's/^/    /' | tee -a "$S"
  return $rc
}
want() { [[ " $stages " == *" $1 "* ]]; }
brief='import json, sys
try:
    r = json.load(open(sys.argv[1])); m = r["memory"]
except (OSError, ValueError, KeyError) as e:
    sys.exit("%s: no report (%s); the command said what went wrong above" % (sys.argv[2], e))
print("%s: %.0f tokens/s, median step %.4f s, GPU in use at most %s, MFU %s, aten ops per step %s" % (sys.argv[2],
      r["tokens_per_s"], r["step_time_s"]["median"], m.get("gpu_used_peak_bytes"), r.get("mfu"),
      r.get("profile", {}).get("aten_ops")))'
trap 'tar czf "$O/logs.tgz" -C "$W" logs 2>/dev/null' EXIT
note "gpu_checks $(date -u +%FT%TZ), stages: $stages; PYTORCH_LIBRARY_PATH=${PYTORCH_LIBRARY_PATH:-} FLAVOR=${PYTORCH_FLAVOR:-} VERSION=${PYTORCH_VERSION:-}"

B="--micro-batch $MB --seq-len $SEQ --warmup 3 --steps $STEPS --device $DEV --json"
[[ $DEV == gpu ]] && B="$B --precision fp16 --peak-tflops $PEAK"
want smoke && TAILN=10 stage smoke 120 "$M" bench --shape tiny --device "$DEV" --precision fp32 --warmup 1 --steps 3 --seq-len 128
bench_stage() { # name, JSON file, command...
  local n=$1 f=$2; shift 2
  stage "$n" 150 bash -c '"$@" > "'"$f"'"; rc=$?; '"$PY"' -c "$0" "'"$f"'" "'"$n"'"; exit $rc' "$brief" "$@"
}
# PROFILE=0 leaves out the extra profiled step (its trace and aten op counts, docs/benchmarks.md)
prof() { [[ ${PROFILE:-1} == 1 ]] && echo "--profile $L/$1-trace.json"; }
want bench && bench_stage bench "$O/medqa-bench.json" "$M" bench --shape "$SHAPE" $B --attention sdpa $(prof medqa)
want peft && bench_stage peft "$O/peft-bench.json" "$PY" bench/hf_peft_bench.py --shape "$SHAPE" $B $(prof peft)
want eager && bench_stage eager "$O/medqa-eager.json" "$M" bench --shape "$SHAPE" $B --attention eager
want pertensor && bench_stage pertensor "$O/medqa-pertensor.json" "$M" bench --shape "$SHAPE" $B --optim adamw_torch \
  $(prof medqa-pertensor)
want peft-foreach && bench_stage peft-foreach "$O/peft-foreach.json" "$PY" bench/hf_peft_bench.py --shape "$SHAPE" $B \
  --optim adamw_torch $(prof peft-foreach)
want parity && TAILN=8 stage parity 240 env P="$W/parity" OUT="$L/parity" MEDQA="$M" SKIP_LORA=1 \
  bench/hf_parity_run.sh "$SHAPE" "$DEV" "$HDEV" "$PY"
if want ref; then
  if [[ -z "${REF_DATA:-}" || -z "${TOKENIZER:-}" ]]; then
    note "[ref] skipped: set REF_DATA (2,000 MedMCQA rows) and TOKENIZER (Qwen3's tokenizer folder)"
  else
    # configs/qwen3-lora.yaml as written (fp16, r 8 on q/k/v/o, 4 x 4 per step, one epoch), on a
    # random-weight model of REF_SHAPE with Qwen3's tokenizer; wall time from start to the adapter written
    rshape=${REF_SHAPE:-$SHAPE}; ref_model=$W/parity/$rshape
    [[ -e $ref_model/config.json ]] || "$PY" bench/hf_parity.py make-model --shape "$rshape" --out "$ref_model" \
      --seed 0 --dtype bfloat16 --force > "$L/ref-model.log" 2>&1
    cp "$TOKENIZER/tokenizer.json" "$TOKENIZER/tokenizer_config.json" "$ref_model/"
    TAILN=6 stage ref 300 "$M" train --config configs/qwen3-lora.yaml --overwrite --device "$DEV" \
      --set model.path="$ref_model" --set data.train="$REF_DATA" --set data.validation="$REF_DATA" \
      --set train.eval_steps=0 --set train.save_steps=0 --set output.dir="$W/ref" ${REF_SET:-}
    cp "$W/ref/metrics.jsonl" "$L/ref-metrics.jsonl" 2>/dev/null
  fi
fi
want demo && TAILN=2 stage demo 180 bash -c '"$0" demo --device "$1" --dir "$2" > "$3" 2>&1; rc=$?
  grep -E "accuracy|error" "$3"; exit $rc' "$M" "$DEV" "$W/demo" "$L/demo-full.log"
if want steps; then
  steps_model=$W/parity/$SHAPE
  [[ -e $steps_model/config.json ]] || "$PY" bench/hf_parity.py make-model --shape "$SHAPE" --out "$steps_model" \
    --seed 0 --dtype bfloat16 --force > "$L/steps-model.log" 2>&1
  TAILN=5 stage steps 240 env OUT="$L/steps" MEDQA="$M" bench/hf_train_parity_run.sh "$steps_model" "$DEV" "$HDEV" "$PY"
fi
want lora && TAILN=8 stage lora 240 env P="$W/parity" OUT="$L/parity" MEDQA="$M" ONLY_LORA=1 \
  bench/hf_parity_run.sh "$SHAPE" "$DEV" "$HDEV" "$PY"
note "end $(date -u +%FT%TZ), $(( $(date +%s) - T0 ))s"
