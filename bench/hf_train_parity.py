#!/usr/bin/env python3
"""Repeats the training steps of a `medqa bench --save-adapters` run on transformers + PEFT and compares
them with medqa's: each step's loss and gradient norm, and the adapter after the last step.

  medqa bench --model parity/tiny --device cpu --precision fp32 --micro-batch 2 --seq-len 64 \\
      --grad-accum 2 --lora-dropout 0 --warmup 0 --steps 8 --save-adapters parity/steps --json \\
      > parity/steps/medqa.json
  python bench/hf_train_parity.py --model parity/tiny --medqa parity/steps/medqa.json

The Python side is what transformers' Trainer does with a PEFT model, written out: Qwen3ForCausalLM
loaded with from_pretrained (the run's precision, its attention kernel, its kv heads shared by
enable_gqa or repeated as medqa ran them: the report's "kv_heads"), PeftModel.from_pretrained on
medqa's initial adapter (is_trainable, the adapter in fp32), the same SplitMix64 tokens as medqa
(bench/hf_peft_bench.py's SyntheticTokens), the model's own loss with labels = input_ids and
num_items_in_batch = the step's target count (sum over tokens / targets of the whole step, the
Trainer's gradient-accumulation loss), fp16 autocast with torch.amp.GradScaler (medqa's initial
scale, 2^16 unless --loss-scale; growth interval 2000), GradScaler.unscale_ then torch.nn.utils.clip_grad_norm_, and
torch.optim.AdamW (fused=True for adamw_torch_fused) at the run's constant lr, betas 0.9/0.999,
eps 1e-8, no weight decay.

Criteria (exit code 0 on PASS, 1 on FAIL, 2 when it cannot compare):
  every step: the same loss scale, both sides stepped or both skipped (fp16 overflow); the loss within
  1e-6 relative in fp32 and 1e-5 in fp16 (medqa sums the loss and divides once in double, the
  Trainer's loss divides each micro-batch in fp32), the gradient norm within 1e-5 relative in fp32 and
  1e-3 in fp16 (weights that drifted apart by a rounding give gradients apart by fp16 noise); the final
  adapter within --tol absolute: by default 1e-6 in fp32 (a few ulps of a weight of 0.02), and in fp16
  lr x steps, since AdamW moves a weight by about lr per step whatever its gradient's size, so an entry
  whose gradient is near zero can take the other direction after a rounding elsewhere (a different
  libtorch's fp16 kernels do this). The number of elements that are not bit-identical is reported
  beside it: 0 is what the same libtorch gives with adamw_torch_fused, in fp32 and in fp16.
Dropout must be 0 (the two sides draw different masks) and the run must not be --eval.

Needs torch, transformers (with Qwen3), peft and safetensors.
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_peft_bench import SyntheticTokens  # noqa: E402  the token stream both benches draw


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="DIR", help="the model folder medqa bench --model ran on")
    p.add_argument("--medqa", required=True, metavar="FILE", help="medqa bench --json report of the run")
    p.add_argument("--adapters", metavar="DIR", help="the --save-adapters folder (default: the report's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--tol", type=float, help="final adapter max |difference| (default 1e-6 fp32, lr x steps fp16)")
    p.add_argument("--twice", action="store_true",
                   help="run PEFT's steps twice and report how far it is from itself (nondeterministic kernels)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return p.parse_args(argv)


def fail(msg):
    print("hf_train_parity: " + msg, file=sys.stderr)
    sys.exit(2)


def main(argv):
    a = parse_args(argv)
    try:
        with open(a.medqa) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: cannot read the medqa report: %s" % (a.medqa, e))
    for key in ("losses", "grad_norms", "loss_scales", "lr", "max_grad_norm", "micro_batch", "seq_len",
                "grad_accum", "warmup", "steps", "seed", "precision", "optim", "lora"):
        if key not in r:
            fail("%s: no \"%s\": give the --json report of a training run with --save-adapters" % (a.medqa, key))
    if r["lora"]["dropout"] != 0:
        fail("%s: LoRA dropout %s; the two sides draw different masks, run medqa bench with --lora-dropout 0"
             % (a.medqa, r["lora"]["dropout"]))
    adapters = a.adapters or r.get("adapters")
    if not adapters:
        fail("%s: no \"adapters\": run medqa bench with --save-adapters DIR" % a.medqa)
    for d in ("initial", "final"):
        if not os.path.isfile(os.path.join(adapters, d, "adapter_model.safetensors")):
            fail("%s: no adapter_model.safetensors" % os.path.join(adapters, d))

    import torch
    import transformers
    import peft
    from safetensors.torch import load_file
    from transformers import Qwen3ForCausalLM

    device = torch.device(a.device)
    precision = r["precision"]
    dtype = {"fp32": torch.float32, "fp16": torch.float16}[precision]
    fp16 = precision == "fp16"
    tol = a.tol if a.tol is not None else (r["lr"] * (r["warmup"] + r["steps"]) if fp16 else 1e-6)
    loss_tol, norm_tol = (1e-5, 1e-3) if fp16 else (1e-6, 1e-5)
    attention = r.get("attention", "sdpa")
    kv_heads = r.get("kv_heads", "none")
    if attention == "sdpa" and kv_heads in ("shared", "repeated"):
        # The same kernel for both: medqa repeats kv heads on the CPU (libtorch's CPU flash kernel takes
        # no enable_gqa and would send the call to its math path) and shares them on a GPU; transformers 5
        # decides by itself (enable_gqa without a mask, repeat_kv with one). Each is exact attention; they
        # differ in rounding, so transformers is told which medqa ran.
        import transformers.integrations.sdpa_attention as sdpa_integration
        if hasattr(sdpa_integration, "use_gqa_in_sdpa"):
            sdpa_integration.use_gqa_in_sdpa = lambda *args, **kwargs: kv_heads == "shared"
        elif kv_heads == "shared":
            fail("transformers %s always repeats kv heads; medqa shared them (enable_gqa)" % transformers.__version__)
    dtype_kw = {"dtype": dtype} if int(transformers.__version__.split(".")[0]) >= 5 else {"torch_dtype": dtype}
    rows, seq_len, accum = r["micro_batch"], r["seq_len"], r["grad_accum"]

    def train_peft():
        """The run's steps on transformers + PEFT: (each step's figures, the final adapter by PEFT name)."""
        model = Qwen3ForCausalLM.from_pretrained(a.model, attn_implementation=attention, **dtype_kw).to(device)
        model = peft.PeftModel.from_pretrained(model, os.path.join(adapters, "initial"), is_trainable=True)
        model.train()
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if any(p.dtype != torch.float32 for _, p in named):
            fail("PEFT kept the adapter in %s, not fp32" % {p.dtype for _, p in named})
        params = [p for _, p in named]
        optimizer = torch.optim.AdamW(params, lr=r["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                      fused=True if r["optim"] == "adamw_torch_fused" else None)
        scaler = torch.amp.GradScaler(device.type, init_scale=float(r["loss_scales"][0]) if fp16 else 65536.0,
                                      growth_interval=2000, enabled=fp16)
        autocast = torch.autocast(device_type=device.type, dtype=dtype, enabled=fp16)
        stream = SyntheticTokens(r["seed"], model.config.vocab_size)
        steps = []
        for step in range(r["warmup"] + r["steps"]):
            targets = accum * rows * (seq_len - 1)
            scale = scaler.get_scale() if fp16 else 1.0
            loss_sum = torch.zeros((), device=device)
            for _ in range(accum):
                ids = torch.tensor(stream.rows(rows, seq_len), dtype=torch.long, device=device)
                with autocast:
                    loss = model(input_ids=ids, labels=ids, num_items_in_batch=targets).loss
                scaler.scale(loss).backward()
                loss_sum += loss.detach().float()
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, r["max_grad_norm"]) if r["max_grad_norm"] > 0 else \
                torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in params])))
            scaler.step(optimizer)
            scaler.update()
            stepped = not fp16 or scaler.get_scale() >= scale
            optimizer.zero_grad(set_to_none=True)
            steps.append({"loss": loss_sum.item(), "grad_norm": norm.item(), "loss_scale": scale, "stepped": stepped})
        final = {n: p.detach().to("cpu", torch.float32) for n, p in named}
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return steps, final

    steps, peft_final = train_peft()
    run_to_run = None
    if a.twice:
        # Kernels that accumulate in a nondeterministic order (atomics in some CUDA backward passes) make
        # PEFT differ from itself; its own run-to-run difference is the floor for medqa against it.
        _, again = train_peft()
        run_to_run = {"unequal_elements": sum(int((again[n] != t).sum()) for n, t in peft_final.items()),
                      "max_abs": max(float((again[n] - t).abs().max()) for n, t in peft_final.items())}

    medqa_final = load_file(os.path.join(adapters, "final", "adapter_model.safetensors"))
    failures = []
    per_step = []
    for i, s in enumerate(steps):
        # float(): medqa's JSON writes a non-finite number as the string "NaN" or "Infinity"
        m_loss, m_norm, m_scale = float(r["losses"][i]), float(r["grad_norms"][i]), float(r["loss_scales"][i])
        m_stepped = math.isfinite(m_norm)
        row = {"step": i + 1, "hf_loss": s["loss"], "medqa_loss": m_loss, "hf_grad_norm": s["grad_norm"],
               "medqa_grad_norm": m_norm, "hf_loss_scale": s["loss_scale"], "medqa_loss_scale": m_scale}
        per_step.append(row)
        if m_scale != s["loss_scale"] or m_stepped != s["stepped"]:
            failures.append("step %d: loss scale %g (stepped %s) against PEFT's %g (stepped %s)"
                            % (i + 1, m_scale, m_stepped, s["loss_scale"], s["stepped"]))
            continue
        if abs(m_loss - s["loss"]) > loss_tol * max(1.0, abs(s["loss"])):
            failures.append("step %d: loss %.9g against PEFT's %.9g" % (i + 1, m_loss, s["loss"]))
        if m_stepped and abs(m_norm - s["grad_norm"]) > norm_tol * max(1e-30, abs(s["grad_norm"])):
            failures.append("step %d: gradient norm %.9g against PEFT's %.9g" % (i + 1, m_norm, s["grad_norm"]))

    worst, unequal, total, missing = 0.0, 0, 0, []
    tensors = {}
    for name, theirs in peft_final.items():
        key = name.replace(".default.weight", ".weight")  # PEFT's saved names drop the adapter's name
        if key not in medqa_final:
            missing.append(key)
            continue
        ours = medqa_final[key].to(torch.float32)
        if ours.shape != theirs.shape:
            failures.append("%s: shape %s against PEFT's %s" % (key, tuple(ours.shape), tuple(theirs.shape)))
            continue
        d = (ours - theirs).abs()
        n_unequal = int((ours != theirs).sum())
        tensors[key] = {"max_abs": float(d.max()), "unequal": n_unequal}
        worst = max(worst, float(d.max()))
        unequal += n_unequal
        total += ours.numel()
    if missing:
        failures.append("medqa's final adapter lacks %d of PEFT's matrices, e.g. %s" % (len(missing), missing[0]))
    if len(tensors) != len(medqa_final):
        failures.append("medqa's final adapter has %d matrices, PEFT's model %d" % (len(medqa_final), len(tensors)))
    if worst > tol:
        failures.append("final adapter: max |difference| %.3g > %.3g" % (worst, tol))

    report = {
        "check": "hf_train_parity", "verdict": "FAIL" if failures else "PASS", "failures": failures,
        "engine": "PyTorch %s, transformers %s, peft %s" % (torch.__version__, transformers.__version__,
                                                            peft.__version__),
        "medqa_engine": r.get("engine"), "device": str(device), "precision": precision, "attention": attention,
        "kv_heads": kv_heads,
        "optim": r["optim"], "micro_batch": rows, "seq_len": seq_len, "grad_accum": accum,
        "steps": len(steps), "max_grad_norm": r["max_grad_norm"],
        "clipped_steps": sum(1 for s in steps if r["max_grad_norm"] > 0 and s["grad_norm"] > r["max_grad_norm"]),
        "skipped_steps": sum(1 for s in steps if not s["stepped"]),
        "final_adapter": {"max_abs": worst, "tolerance": tol, "unequal_elements": unequal, "elements": total,
                          "bit_identical": unequal == 0 and total > 0},
        "max_rel_loss": max(abs(p["medqa_loss"] - p["hf_loss"]) / max(1.0, abs(p["hf_loss"])) for p in per_step),
        "max_rel_grad_norm": max((abs(p["medqa_grad_norm"] - p["hf_grad_norm"]) / abs(p["hf_grad_norm"])
                                  for p in per_step if p["hf_grad_norm"] and math.isfinite(p["medqa_grad_norm"])),
                                 default=0.0),
        "peft_run_to_run": run_to_run,
        "per_step": per_step, "tensors": tensors,
    }
    if a.json:
        print(json.dumps(report))
    else:
        fa = report["final_adapter"]
        print("%s: %d steps, %s, %s, micro-batch %d x %d x %d accumulated, %d clipped, %d skipped (overflow); "
              "%s against medqa on %s"
              % (report["verdict"], len(steps), precision, r["optim"], rows, seq_len, accum, report["clipped_steps"],
                 report["skipped_steps"], report["engine"], r.get("engine")))
        print("final adapter: max |difference| %.3g (tolerance %.3g), %d of %d elements not bit-identical"
              % (fa["max_abs"], tol, fa["unequal_elements"], fa["elements"]))
        print("losses: max relative difference %.3g; gradient norms: %.3g"
              % (report["max_rel_loss"], report["max_rel_grad_norm"]))
        if run_to_run is not None:
            print("PEFT against itself, run twice: %d elements not bit-identical, max |difference| %.3g"
                  % (run_to_run["unequal_elements"], run_to_run["max_abs"]))
        for f in failures:
            print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
