#!/usr/bin/env python3
"""The job of `medqa bench`, on Hugging Face transformers + PEFT, for a side-by-side comparison.

Trains LoRA on transformers' Qwen3ForCausalLM (SDPA attention) with the same shape, the same LoRA
targets and rank, the same optimizer (torch.optim.AdamW, fused unless --optim adamw_torch, lr 2e-4
constant, betas 0.9/0.999, eps 1e-8, no weight decay, clipping at 1.0 unless --max-grad-norm), fp16
autocast with a GradScaler (initial scale 2^16 unless --loss-scale, growth interval 2000) and the same
synthetic tokens, and prints the same figures under the same JSON keys. With --eval it times letter
scoring: one forward pass per batch, log-softmax at each row's last position.

Tokens: SplitMix64 (Steele, Lea and Flood, OOPSLA 2014) from --seed, token = next() mod vocab with
next() unsigned; micro-batch after micro-batch, each row-major (rows, seq_len), warm-up steps first.
io.medqa.bench.SyntheticTokens draws the identical stream, so both benchmarks see the same tokens.
Every position but the last of a row is a target (labels = input_ids).

Random weights: transformers' own initialisation (N(0, 0.02), norms 1), seeded by --seed; the values
differ from medqa's (a different generator), the shapes and the work do not.

Examples:
  python bench/hf_peft_bench.py --shape tiny --steps 5 --device cpu
  python bench/hf_peft_bench.py --shape qwen3-1.7b --micro-batch 4 --seq-len 512 --precision fp16 \\
      --device gpu --peak-tflops 989 --json > peft-bench.json
  python bench/hf_peft_bench.py --model ./Qwen3-1.7B --eval --micro-batch 16 --seq-len 256 --device gpu

Needs torch, transformers (with Qwen3, 4.51 or later) and peft.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time

MASK64 = (1 << 64) - 1
LR = 2e-4
MAX_GRAD_NORM = 1.0
LETTERS = [32, 33, 34, 35]  # Qwen3's "A".."D"; any ids would time the same
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# The config.json values of Qwen/Qwen3-1.7B and Qwen/Qwen3-0.6B, and the tiny shape medqa's tests use.
SHAPES = {
    "qwen3-1.7b": dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                       rope_theta=1_000_000.0, max_position_embeddings=40960, tie_word_embeddings=True),
    "qwen3-0.6b": dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                       rope_theta=1_000_000.0, max_position_embeddings=40960, tie_word_embeddings=True),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                 rope_theta=1_000_000.0, max_position_embeddings=4096, tie_word_embeddings=True),
}


class SyntheticTokens:
    """SplitMix64, as io.medqa.bench.SyntheticTokens: seed 0 gives 0xE220A8397B1DCDAF first."""

    def __init__(self, seed, vocab):
        self.state = seed & MASK64
        self.vocab = vocab

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def rows(self, rows, seq_len):
        return [[self.next_u64() % self.vocab for _ in range(seq_len)] for _ in range(rows)]


def transformers_major(transformers):
    return int(transformers.__version__.split(".")[0])


def qwen3_config(transformers, config_class, cfg):
    """A Qwen3Config with SDPA attention and exactly cfg's RoPE base.

    transformers 5 keeps RoPE's base in rope_parameters (4.x: a top-level rope_theta); a base that did
    not arrive would silently be 10,000, so it is read back and checked.
    """
    cfg = dict(cfg)
    theta = float(cfg.pop("rope_theta"))
    if transformers_major(transformers) >= 5:
        config = config_class(**cfg, rope_parameters={"rope_type": "default", "rope_theta": theta},
                              attn_implementation="sdpa")
    else:
        config = config_class(**cfg, rope_theta=theta, attn_implementation="sdpa")
    got = getattr(config, "rope_theta", None)
    if got is None:
        got = (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    if got is None or float(got) != theta:
        sys.exit("hf_peft_bench: transformers %s made a config with rope_theta %s, not %s"
                 % (transformers.__version__, got, theta))
    return config


def dtype_argument(transformers, dtype):
    """from_pretrained's dtype keyword: dtype in transformers 5, torch_dtype before."""
    return {"dtype": dtype} if transformers_major(transformers) >= 5 else {"torch_dtype": dtype}


def shape_of(cfg, name):
    """(out, in) of a projection, as Qwen3Config.projectionShape in medqa."""
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    return {"q_proj": (q, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, q),
            "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}[name]


def flop_terms(cfg, targets, r, rows, seq_len):
    layers = cfg["num_hidden_layers"]
    n = layers * sum(o * i for o, i in (shape_of(cfg, p) for p in PROJECTIONS))
    lora = layers * sum(r * (o + i) for o, i in (shape_of(cfg, p) for p in targets))
    head = cfg["vocab_size"] * cfg["hidden_size"]
    attention = 4.0 * layers * cfg["num_attention_heads"] * cfg["head_dim"] * seq_len * seq_len * rows
    return float(rows * seq_len), float(n), float(lora), float(head), attention


def train_flops(cfg, targets, r, rows, seq_len):
    """Model FLOPs of one training micro-batch on a frozen base: docs/benchmarks.md, io.medqa.bench.FlopCount."""
    tokens, n, lora, head, attention = flop_terms(cfg, targets, r, rows, seq_len)
    return 4 * n * tokens + 4 * head * rows * (seq_len - 1) + 6 * lora * tokens + 3 * attention


def forward_flops(cfg, targets, r, rows, seq_len, head_rows):
    tokens, n, lora, head, attention = flop_terms(cfg, targets, r, rows, seq_len)
    return 2 * n * tokens + 2 * head * head_rows + 2 * lora * tokens + attention


def proc_status_bytes(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line[len(key):].replace("kB", "").strip()) * 1024
    except OSError:
        pass
    return -1


def resolve_device(torch, spec):
    s = spec.strip().lower()
    if s == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s in ("gpu", "cuda"):
        return torch.device("cuda:0")
    if ":" in s and s.split(":")[0] in ("gpu", "cuda") and s.split(":")[1].isdigit():
        return torch.device("cuda:" + s.split(":")[1])
    sys.exit("hf_peft_bench: --device \"%s\" is not one of auto, cpu, gpu, gpu:N" % spec)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[4:5]))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="DIR", help="a Hugging Face Qwen3 folder")
    src.add_argument("--shape", choices=sorted(SHAPES), help="a named shape with random weights")
    p.add_argument("--device", default="auto", help="auto|cpu|gpu|gpu:N (default: auto)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="compute dtype of the frozen weights (auto: fp16 on a GPU, fp32 on the CPU)")
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=16)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--optim", default="adamw_torch_fused", choices=["adamw_torch_fused", "adamw_torch"],
                   help="torch.optim.AdamW with fused=True, or torch's default implementation "
                        "(default: adamw_torch_fused, as medqa)")
    p.add_argument("--max-grad-norm", type=float, default=MAX_GRAD_NORM,
                   help="global gradient-norm clipping, 0 disables (default: %(default)s, as medqa bench)")
    p.add_argument("--loss-scale", type=float, default=65536.0,
                   help="fp16's initial loss scale (default: %(default)s, as medqa bench)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--peak-tflops", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads on the CPU (0: torch's choice)")
    p.add_argument("--eval", action="store_true", help="time letter scoring instead of training")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--profile", metavar="FILE",
                   help="after the timed steps, profile one more training step: Chrome trace to FILE, op counts in the report")
    a = p.parse_args(argv)
    if a.profile and a.eval:
        p.error("--profile profiles a training step; leave out --eval")
    a.lora_targets = [t for t in a.lora_targets.split(",") if t]
    if not a.loss_scale > 0 or math.isinf(a.loss_scale):
        p.error("--loss-scale must be > 0, got %s" % a.loss_scale)
    if not a.max_grad_norm >= 0 or math.isinf(a.max_grad_norm):
        p.error("--max-grad-norm must be >= 0 (0: no clipping), got %s" % a.max_grad_norm)
    for name, value, least in (("--micro-batch", a.micro_batch, 1), ("--grad-accum", a.grad_accum, 1),
                               ("--steps", a.steps, 1), ("--seq-len", a.seq_len, 2), ("--warmup", a.warmup, 0),
                               ("--lora-r", a.lora_r, 1), ("--threads", a.threads, 0)):
        if value < least:
            p.error("%s must be >= %d, got %d" % (name, least, value))
    bad = [t for t in a.lora_targets if t not in PROJECTIONS]
    if bad or not a.lora_targets:
        p.error("--lora-targets: %s is not a subset of %s" % (a.lora_targets, PROJECTIONS))
    return a


def main(argv):
    a = parse_args(argv)
    import torch
    import transformers
    import peft
    from transformers import Qwen3Config, Qwen3ForCausalLM

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = resolve_device(torch, a.device)
    precision = a.precision if a.precision != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    log = (lambda s: None) if a.json else (lambda s: print(s, file=sys.stderr, flush=True))

    torch.manual_seed(a.seed)
    if a.shape:
        cfg = dict(SHAPES[a.shape])
        config = qwen3_config(transformers, Qwen3Config, cfg)
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
        # Parameters only, as from_pretrained(dtype=) leaves them: model.to(dtype) would also cast the
        # rotary embedding's inv_freq buffer, which transformers keeps in fp32.
        for p in model.parameters():
            p.data = p.data.to(dtype)
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the fp32 originals: not to be counted as memory in use
        source = "shape %s (random weights)" % a.shape
    else:
        model = Qwen3ForCausalLM.from_pretrained(a.model, attn_implementation="sdpa",
                                                 **dtype_argument(transformers, dtype)).to(device)
        c = model.config
        cfg = {k: getattr(c, k, None) for k in SHAPES["tiny"]}  # only the shape keys are read below
        if getattr(c, "head_dim", None) is None:
            cfg["head_dim"] = c.hidden_size // c.num_attention_heads
        source = a.model
    base_params = sum(p.numel() for p in model.parameters())  # a tied head is one parameter

    lora_config = peft.LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout,
                                  target_modules=a.lora_targets, bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lora_config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:  # fp32 LoRA matrices under fp16 compute, as medqa keeps them (GradScaler needs fp32 grads)
        p.data = p.data.float()
    trainable_params = sum(p.numel() for p in trainable)

    cuda = device.type == "cuda"
    autocast = torch.autocast(device_type=device.type, dtype=dtype, enabled=precision != "fp32")
    tokens = SyntheticTokens(a.seed, cfg["vocab_size"])
    total = a.warmup + a.steps
    seconds, losses = [], []
    rss_after_warmup = gpu_after_warmup = -1
    gpu_peak = -1
    report = {
        "bench": "hf_peft", "mode": "eval" if a.eval else "train",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "engine": "PyTorch %s, transformers %s, peft %s" % (torch.__version__, transformers.__version__,
                                                            peft.__version__),
        "device": str(device) + (" (%s)" % torch.cuda.get_device_name(device) if cuda else ""),
        "attention": getattr(model.config, "_attn_implementation", None),
        "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "model": source,
        "config": {k: cfg[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                       "num_attention_heads", "num_key_value_heads", "head_dim",
                                       "tie_word_embeddings")},
        "precision": precision, "micro_batch": a.micro_batch, "seq_len": a.seq_len, "grad_accum": a.grad_accum,
        "lora": {"r": a.lora_r, "alpha": a.lora_alpha, "dropout": a.lora_dropout, "target_modules": a.lora_targets},
        "warmup": a.warmup, "steps": a.steps, "seed": a.seed,
        "parameters": {"base": base_params, "trainable": trainable_params},
    }

    def gpu_used():
        if not cuda:
            return -1
        free, total_bytes = torch.cuda.mem_get_info(device)
        return total_bytes - free

    def at_step_start(step):
        nonlocal rss_after_warmup, gpu_after_warmup
        if step == a.warmup + 1:
            rss_after_warmup = proc_status_bytes("VmRSS:")
            gpu_after_warmup = gpu_used()
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)

    def record(step, dt, what):
        timed = step > a.warmup
        if timed:
            seconds.append(dt)
        log("%s %d/%d: %.3f s, %s" % ("step" if timed else "warm-up", step - a.warmup if timed else step,
                                      a.steps if timed else a.warmup, dt, what))

    if a.eval:
        model.eval()
        letters = torch.tensor(LETTERS, device=device)
        flops = forward_flops(cfg, a.lora_targets, a.lora_r, a.micro_batch, a.seq_len, a.micro_batch)
        tokens_per_step = a.micro_batch * a.seq_len
        for step in range(1, total + 1):
            at_step_start(step)
            ids = torch.tensor(tokens.rows(a.micro_batch, a.seq_len), dtype=torch.long)
            t0 = time.perf_counter()
            with torch.no_grad(), autocast:
                out = model(input_ids=ids.to(device), logits_to_keep=1)  # the head at the last position only
                log_probs = out.logits[:, -1, :].float().log_softmax(-1)
                log_probs.index_select(1, letters).cpu()  # one host read, as medqa
            dt = time.perf_counter() - t0
            gpu_peak = max(gpu_peak, gpu_used())
            record(step, dt, "batch")
        report["questions_per_s"] = a.micro_batch / statistics.median(seconds)
    else:
        model.train()
        # adamw_torch_fused: fused=True, as transformers' Trainer builds it for optim="adamw_torch_fused";
        # adamw_torch: torch's default (foreach, multi-tensor, on a GPU; a loop per tensor on the CPU)
        optimizer = torch.optim.AdamW(trainable, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                      fused=True if a.optim == "adamw_torch_fused" else None)
        scaler = torch.amp.GradScaler(device.type, init_scale=a.loss_scale, growth_interval=2000,
                                      enabled=precision == "fp16")
        flops = a.grad_accum * train_flops(cfg, a.lora_targets, a.lora_r, a.micro_batch, a.seq_len)
        tokens_per_step = a.micro_batch * a.seq_len * a.grad_accum
        skipped = 0
        for step in range(1, total + 1):
            at_step_start(step)
            batches = [torch.tensor(tokens.rows(a.micro_batch, a.seq_len), dtype=torch.long)
                       for _ in range(a.grad_accum)]
            t0 = time.perf_counter()
            torch.manual_seed(a.seed + step)  # dropout, as medqa seeds it per step
            step_loss = torch.zeros((), device=device)
            for ids in batches:
                ids = ids.to(device, non_blocking=True)
                with autocast:
                    # mean over the micro-batch's seq_len - 1 targets per row; equal counts per micro-batch
                    loss = model(input_ids=ids, labels=ids).loss / a.grad_accum
                scaler.scale(loss).backward()
                step_loss += loss.detach().float()
            scale_before = scaler.get_scale()
            scaler.unscale_(optimizer)
            if a.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, a.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            loss_value = step_loss.item()  # a host read per step, as medqa's
            if cuda:
                torch.cuda.synchronize(device)
            dt = time.perf_counter() - t0
            stepped = not (precision == "fp16" and scaler.get_scale() < scale_before)
            skipped += 0 if stepped else 1
            gpu_peak = max(gpu_peak, gpu_used())
            losses.append(loss_value)
            record(step, dt, "loss %.4f%s" % (loss_value, "" if stepped else " (skipped: overflow)"))
        if a.profile:
            # one more step, untimed, under torch.profiler: aten:: calls are what medqa bench --profile counts
            from torch.profiler import ProfilerActivity, profile
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            batches = [torch.tensor(tokens.rows(a.micro_batch, a.seq_len), dtype=torch.long)
                       for _ in range(a.grad_accum)]
            torch.manual_seed(a.seed + total + 1)
            with profile(activities=activities) as prof:
                for ids in batches:
                    ids = ids.to(device, non_blocking=True)
                    with autocast:
                        loss = model(input_ids=ids, labels=ids).loss / a.grad_accum
                    scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                if a.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, a.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                if cuda:
                    torch.cuda.synchronize(device)
            prof.export_chrome_trace(a.profile)
            averages = [e for e in prof.key_averages() if e.key.startswith("aten::")]
            averages.sort(key=lambda e: (-e.count, e.key))
            report["profile"] = {"file": a.profile, "aten_ops": sum(e.count for e in averages),
                                 "distinct": len(averages),
                                 "top": [{"name": e.key, "calls": e.count} for e in averages[:20]]}
        report["losses"] = losses
        report["optim"] = a.optim
        report["max_grad_norm"] = a.max_grad_norm
        report["skipped_steps"] = skipped
        report["final_loss_scale"] = scaler.get_scale() if precision == "fp16" else 1.0

    median = statistics.median(seconds)
    report["tokens_per_step"] = tokens_per_step
    report["step_time_s"] = {"median": median, "mean": statistics.fmean(seconds),
                             "stdev": statistics.stdev(seconds) if len(seconds) > 1 else 0.0,
                             "min": min(seconds), "max": max(seconds), "all": seconds}
    report["tokens_per_s"] = tokens_per_step / median
    report["flops_per_step"] = flops
    achieved = flops / median / 1e12
    report["achieved_tflops"] = achieved
    report["peak_tflops"] = a.peak_tflops if a.peak_tflops > 0 else None
    report["mfu"] = achieved / a.peak_tflops if a.peak_tflops > 0 else None
    rss_end = proc_status_bytes("VmRSS:")
    mem = {"peak_rss_bytes": proc_status_bytes("VmHWM:"), "rss_after_warmup_bytes": rss_after_warmup,
           "rss_end_bytes": rss_end,
           "rss_growth_bytes": rss_end - rss_after_warmup if rss_after_warmup >= 0 and rss_end >= 0 else 0}
    if cuda:
        mem["gpu_used_peak_bytes"] = gpu_peak
        mem["gpu_used_after_warmup_bytes"] = gpu_after_warmup
        # over the timed steps only (reset after warm-up)
        mem["gpu_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        mem["gpu_max_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    report["memory"] = mem

    if a.json:
        print(json.dumps(report))
    else:
        mib = lambda b: "n/a" if b < 0 else "{:,.0f} MiB".format(b / 2**20)
        print("%s on %s (%d torch threads), %s: %s, micro-batch %d x %d tokens%s, LoRA r %d on %s"
              % (report["mode"], report["device"], report["torch_threads"], precision, source, a.micro_batch,
                 a.seq_len, " x %d accumulated" % a.grad_accum if a.grad_accum > 1 else "", a.lora_r,
                 a.lora_targets))
        print("parameters: {:,} base, {:,} trainable".format(base_params, trainable_params))
        st = report["step_time_s"]
        print("step time: median %.4f s (min %.4f, max %.4f, stdev %.4f) over %d steps after %d warm-up"
              % (st["median"], st["min"], st["max"], st["stdev"], a.steps, a.warmup))
        print("throughput: {:,.1f} tokens/s{}".format(report["tokens_per_s"], ", %.2f questions/s"
                                                      % report["questions_per_s"] if a.eval else ""))
        print("compute: %.3g FLOPs per step, %.3f TFLOP/s%s" % (flops, achieved, (
            ", MFU %.1f%% of %.1f" % (100 * report["mfu"], a.peak_tflops)) if report["mfu"] is not None
            else " (give --peak-tflops for MFU)"))
        print("memory: peak RSS %s, RSS after warm-up %s, at the end %s (growth %+.0f MiB)%s"
              % (mib(mem["peak_rss_bytes"]), mib(rss_after_warmup), mib(rss_end), mem["rss_growth_bytes"] / 2**20,
                 ", GPU in use at most %s, torch max allocated %s" % (mib(gpu_peak),
                                                                      mib(mem["gpu_max_allocated_bytes"]))
                 if cuda else ""))
        if losses:
            print("loss: first %.4f, last %.4f; %d skipped steps" % (losses[0], losses[-1], report["skipped_steps"]))
        if "profile" in report:
            pr = report["profile"]
            print("profile: {:,} aten op calls in one step ({} distinct), trace in {}; most called: {}".format(
                pr["aten_ops"], pr["distinct"], pr["file"],
                ", ".join("%s %d" % (t["name"], t["calls"]) for t in pr["top"][:8])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
