#!/usr/bin/env python3
"""Checks medqa's forward pass against Hugging Face transformers' Qwen3ForCausalLM, and medqa's adapters
against PEFT, on the same weights and the same token ids.

Three steps (docs/benchmarks.md, "Correctness against transformers"):

  1. python bench/hf_parity.py make-model --shape qwen3-1.7b --out parity/model --seed 0
       a model folder with transformers' own random initialisation (N(0, 0.02), norms 1) under
       torch.manual_seed, saved with save_pretrained; config.json holds the Hub's config.json values
       of Qwen/Qwen3-1.7B (or -0.6B, or medqa's tiny test shape). No tokenizer: medqa's forward pass
       reads only config.json and the safetensors weights.
  2. medqa logits --model parity/model --device cpu --dtype fp32 --out parity/medqa-fp32.safetensors
       (add --adapter DIR for an adapter, --dtype fp16 for half precision)
  3. python bench/hf_parity.py compare --model parity/model --medqa parity/medqa-fp32.safetensors
       runs transformers on medqa's input_ids (PeftModel.from_pretrained with --adapter), prints the
       differences and PASS or FAIL; exit code 0 on PASS, 1 on FAIL, 2 when it cannot compare.

  python bench/hf_parity.py selftest --out parity/selftest
       checks this script alone on a tiny model on the CPU: a file made from transformers' own logits
       must PASS and a perturbed one must FAIL (seconds; no medqa needed).

Criteria:
  fp32: medqa against transformers in fp32 with eager attention (plain fp32 products, fp32 softmax; the
        first of --attn): max |difference| <= --fp32-tol (default 1e-3). SDPA's run is shown beside it
        with its own distance to eager. Two correct fp32 implementations differ only by rounding in a
        different order of operations: about sqrt(k) * 6e-8 relative per dot product of length k
        (k = 2048 or 6144 here), a few 1e-6 relative after 28 layers whose norms renormalise the
        stream, i.e. around 1e-5 absolute on the logits of random weights (|logit| up to about 5).
        1e-3 leaves two orders of magnitude for that while any real defect (a wrong RoPE base, norm
        epsilon, GQA grouping, a missing q_norm or LoRA scale) moves logits by 1e-2 to 1.
  fp16: medqa's fp16 logits against transformers' fp32 ones may be no worse than 2x transformers'
        own fp16 logits against its fp32 ones, plus a floor of 2^-11 x max(1, |logit| scale) (one fp16
        rounding of the largest logit), in both the max and the mean absolute difference. fp16 rounding (unit 4.9e-4) makes both stacks
        differ from fp32 by amounts of the same order; 2x allows a different but equally valid order
        of operations (medqa's explicit softmax attention, PEFT's fp32 LoRA product) and no more.
  argmax agreement is reported, not judged: random weights give near-ties that rounding may flip.

Needs torch, transformers (with Qwen3), peft (only with --adapter), safetensors and numpy.
"""

import argparse
import json
import math
import os
import sys
import time

# The config.json values of Qwen/Qwen3-1.7B and Qwen/Qwen3-0.6B on the Hub, and medqa's tiny shape
# (io.medqa.bench.BenchShape); the keys are transformers' names, as in the Hub's files.
SHAPES = {
    "qwen3-1.7b": dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                       rope_theta=1000000.0, max_position_embeddings=40960, max_window_layers=28,
                       tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645),
    "qwen3-0.6b": dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                       rope_theta=1000000.0, max_position_embeddings=40960, max_window_layers=28,
                       tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                 rope_theta=1000000.0, max_position_embeddings=4096, max_window_layers=2,
                 tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
}

FP32_TOL = 1e-3
FP16_FACTOR = 2.0
FP16_FLOOR = 2.0 ** -11  # fp16 unit roundoff: one rounding of a logit of size 1

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


class Refused(Exception):
    """Cannot compare (bad input, missing file): one line, exit code 2."""


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def hub_config(shape, dtype_name):
    """config.json as the Hub serves it for Qwen3 (legacy rope_theta, rope_scaling null)."""
    c = {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "rope_scaling": None,
        "sliding_window": None,
        "use_sliding_window": False,
        "use_cache": True,
        "torch_dtype": dtype_name,
    }
    c.update(SHAPES[shape])
    return c


def rope_theta_of(config):
    """The RoPE base transformers will use, whichever way its version stores it."""
    rp = getattr(config, "rope_parameters", None)
    if isinstance(rp, dict):
        if "rope_theta" in rp:
            return float(rp["rope_theta"])
        for v in rp.values():  # per attention type
            if isinstance(v, dict) and "rope_theta" in v:
                return float(v["rope_theta"])
    theta = getattr(config, "rope_theta", None)
    return None if theta is None else float(theta)


def check_config(config, want, where):
    """transformers' reading of config.json against the values meant; a mismatch is fatal."""
    problems = []
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "tie_word_embeddings"):
        if key in want and getattr(config, key, None) != want[key]:
            problems.append(f"{key} {getattr(config, key, None)} != {want[key]}")
    if "rms_norm_eps" in want and not math.isclose(float(config.rms_norm_eps), float(want["rms_norm_eps"])):
        problems.append(f"rms_norm_eps {config.rms_norm_eps} != {want['rms_norm_eps']}")
    theta = rope_theta_of(config)
    if "rope_theta" in want and (theta is None or not math.isclose(theta, float(want["rope_theta"]))):
        problems.append(f"RoPE theta {theta} != {want['rope_theta']}")
    if problems:
        raise Refused(f"{where}: transformers reads the config differently: " + "; ".join(problems))


def import_torch():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import safetensors  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        raise Refused(f"needs torch, transformers, safetensors and numpy: {e}")
    import torch
    # Plain fp32 products everywhere: TF32 would make the fp32 reference a 10-bit-mantissa one.
    # (The stable switch; the older allow_tf32 flags are left alone, as torch 2.9+ objects to mixing the two.)
    torch.set_float32_matmul_precision("highest")
    return torch


def save_model(model, out):
    try:
        model.save_pretrained(out, safe_serialization=True)
    except TypeError:  # versions where safetensors is the only format and the flag is gone
        model.save_pretrained(out)


def cmd_make_model(args):
    torch = import_torch()
    import transformers
    from transformers import AutoConfig, Qwen3ForCausalLM

    out = args.out
    if os.path.exists(os.path.join(out, "config.json")) and not args.force:
        raise Refused(f"{out} already holds a model (config.json); choose another --out or add --force")
    os.makedirs(out, exist_ok=True)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    want = hub_config(args.shape, args.dtype)
    config_path = os.path.join(out, "config.json")

    def write_config():
        with open(config_path, "w") as f:
            json.dump(want, f, indent=2)
            f.write("\n")

    # Read the Hub-style file back as transformers reads a real checkpoint's, so both this model's
    # construction and later loading go through the same, version-specific, conversion.
    write_config()
    config = AutoConfig.from_pretrained(out)
    check_config(config, want, config_path)
    t0 = time.time()
    torch.manual_seed(args.seed)
    model = Qwen3ForCausalLM(config)  # transformers' own initialisation
    model = model.to(dtype).eval()
    n = sum(p.numel() for p in model.parameters())
    log(f"initialised {args.shape} ({n:,} parameters, {args.dtype}) in {time.time() - t0:.1f} s; saving to {out}")
    save_model(model, out)
    # save_pretrained writes config.json in its own version's layout (transformers 5 moves rope_theta into
    # rope_parameters); put the Hub's layout back, as every released Qwen3 folder has it, which every
    # version of transformers loads and medqa has always read.
    write_config()
    check_config(AutoConfig.from_pretrained(out), want, config_path)
    files = sorted(f for f in os.listdir(out) if f.endswith(".safetensors") or f.endswith(".json"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    print(f"wrote {out}: {', '.join(files)} ({size / 2**30:.2f} GiB), {args.shape}, seed {args.seed}, {args.dtype}, "
          f"transformers {transformers.__version__}, torch {torch.__version__}")
    # The same seed, shape and versions give the same weights; the digests show whether two machines agree.
    for f in files:
        if f.endswith(".safetensors"):
            print(f"sha256 {sha256(os.path.join(out, f))}  {f}")
    return EXIT_PASS


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def read_medqa(path):
    from safetensors import safe_open
    if not os.path.isfile(path):
        raise Refused(f"{path}: file not found (write it with: medqa logits --model DIR --out {path})")
    try:
        with safe_open(path, framework="pt") as f:
            meta = dict(f.metadata() or {})
            keys = set(f.keys())
            if "input_ids" not in keys or "logits" not in keys:
                raise Refused(f"{path}: needs tensors input_ids and logits, has {sorted(keys)}")
            ids = f.get_tensor("input_ids")
            logits = f.get_tensor("logits")
    except Refused:
        raise
    except Exception as e:  # safetensors' own errors on a damaged file
        raise Refused(f"{path}: not a readable safetensors file: {e}")
    if ids.dim() != 2 or logits.dim() != 3 or logits.shape[0] != ids.shape[0]:
        raise Refused(f"{path}: input_ids {tuple(ids.shape)} and logits {tuple(logits.shape)} are not "
                      "(rows, seq_len) and (rows, seq_len or 1, vocab)")
    rows, seq = ids.shape
    kept = logits.shape[1]
    positions = meta.get("positions", "all" if kept == seq else "last")
    if (positions == "all" and kept != seq) or (positions == "last" and kept != 1) or positions not in ("all", "last"):
        raise Refused(f"{path}: positions {positions!r} does not fit logits {tuple(logits.shape)} for "
                      f"input_ids {tuple(ids.shape)}")
    return ids.long(), logits.float(), meta, positions


def untied_head_note(torch, model_dir, on_disk):
    """A stored lm_head.weight that differs from the embeddings of a tied model: medqa uses the embeddings
    (as transformers 4 did), transformers 5 then keeps the stored head, so the two read different models."""
    if not on_disk.get("tie_word_embeddings", False):
        return None
    from safetensors import safe_open
    where = {}
    for name in sorted(os.listdir(model_dir)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(model_dir, name), framework="pt") as f:
                for key in ("lm_head.weight", "model.embed_tokens.weight"):
                    if key in f.keys():
                        where[key] = os.path.join(model_dir, name)
    if "lm_head.weight" not in where or "model.embed_tokens.weight" not in where:
        return None

    def load(key):
        with safe_open(where[key], framework="pt") as f:
            return f.get_tensor(key)

    if torch.equal(load("lm_head.weight"), load("model.embed_tokens.weight")):
        return None
    return (f"{model_dir}: tie_word_embeddings is true but the stored lm_head.weight differs from "
            "model.embed_tokens.weight: medqa uses the embeddings as the head, this transformers version may use "
            "the stored lm_head (it warns 'we will NOT tie them'), so large differences are expected")


def load_hf(torch, model_dir, adapter, dtype, device, attn):
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation=attn)
    except TypeError:  # transformers 4.x names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype, attn_implementation=attn)
    # Whatever the keyword did in this version, the weights end in the dtype asked for. Parameters only:
    # model.to(dtype) would also cast the rotary embedding's inv_freq buffer, which from_pretrained(dtype=)
    # keeps in fp32, and move fp16 logits away from what transformers computes for its users.
    model = model.to(device=device)
    for p in model.parameters():
        if p.dtype != dtype:
            p.data = p.data.to(dtype)
    if adapter:
        try:
            from peft import PeftModel
        except ImportError as e:
            raise Refused(f"--adapter needs peft: {e}")
        model = PeftModel.from_pretrained(model, adapter)
        model = model.to(device)
    return model.eval()


def hf_logits(torch, model, ids, device, positions):
    with torch.inference_mode():
        x = ids.to(device)
        out = model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False)
        logits = out.logits
        if positions == "last":
            logits = logits[:, -1:, :]
        return logits.float().cpu()


def diff(torch, got, ref):
    """Differences of got against ref, both (rows, positions, vocab) float32 on the CPU."""
    g = got.double()
    r = ref.double()
    d = (g - r).abs()
    scale = r.abs().max().item()
    finite = bool(torch.isfinite(g).all().item())
    return {
        "max_abs": d.max().item() if finite else float("inf"),
        "mean_abs": d.mean().item() if finite else float("inf"),
        "max_rel_to_scale": (d.max().item() / scale if scale > 0 else float("inf")) if finite else float("inf"),
        "logit_scale": scale,
        "argmax_agreement": (g.argmax(-1) == r.argmax(-1)).double().mean().item(),
        "finite": finite,
    }


def compare(args, torch=None):
    """The report as a dict; 'verdict' is PASS or FAIL."""
    torch = torch or import_torch()
    import transformers
    ids, medqa, meta, positions = read_medqa(args.medqa)
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        raise Refused(f"{args.model}: no config.json (is it the folder medqa logits read?)")
    made_with_adapter = meta.get("adapter", "")
    if made_with_adapter and not args.adapter:
        raise Refused(f"{args.medqa} was made with adapter {made_with_adapter}; pass --adapter DIR")
    if args.adapter and "adapter" in meta and not made_with_adapter:
        raise Refused(f"{args.medqa} was made without an adapter; leave out --adapter")
    if args.adapter and not os.path.isfile(os.path.join(args.adapter, "adapter_config.json")):
        raise Refused(f"{args.adapter}: no adapter_config.json (not a PEFT adapter folder)")
    precision = args.precision or meta.get("dtype", "fp32")
    if precision not in ("fp32", "fp16"):
        raise Refused(f"precision {precision!r} is not fp32 or fp16")
    if meta.get("dtype") and meta["dtype"] != precision:
        raise Refused(f"{args.medqa} holds medqa's {meta['dtype']} logits, not {precision}: compare with "
                      f"--precision {meta['dtype']} or rerun medqa logits --dtype {precision}")
    if meta.get("model") and os.path.realpath(meta["model"]) != os.path.realpath(args.model):
        log(f"note: {args.medqa} names model {meta['model']}, comparing against {args.model}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise Refused("--device cuda: torch sees no CUDA device; use --device cpu")
    with open(os.path.join(args.model, "config.json")) as f:
        on_disk = json.load(f)
    if "rope_theta" not in on_disk and "rope_theta" not in (on_disk.get("rope_parameters") or {}):
        log(f"warning: {args.model}/config.json names no RoPE base (rope_theta, or rope_parameters.rope_theta): "
            "each side then takes its own default")
    note = untied_head_note(torch, args.model, on_disk)
    if note:
        log("warning: " + note)
    vocab = on_disk.get("vocab_size")
    if medqa.shape[2] != vocab:
        raise Refused(f"{args.medqa}: logits have {medqa.shape[2]} columns, {args.model} has vocab_size {vocab}")
    attns = [a.strip() for a in args.attn.split(",") if a.strip()]
    report = {
        "model": args.model, "adapter": args.adapter, "medqa_file": args.medqa, "precision": precision,
        "device": device, "positions": positions, "rows": int(ids.shape[0]), "seq_len": int(ids.shape[1]),
        "vocab": int(vocab), "medqa_meta": meta, "versions": {
            "torch": torch.__version__, "transformers": transformers.__version__,
            "cuda_device": torch.cuda.get_device_name(0) if device.startswith("cuda") else None},
        "fp32_tol": args.fp32_tol, "untied_head": note, "runs": {}, "checks": [],
    }
    try:
        import peft
        report["versions"]["peft"] = peft.__version__
    except ImportError:
        report["versions"]["peft"] = None

    def run(dtype_name, attn):
        dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype_name]
        t0 = time.time()
        model = load_hf(torch, args.model, args.adapter, dtype, device, attn)
        cfg = model.get_base_model().config if args.adapter else model.config
        check_config(cfg, on_disk, os.path.join(args.model, "config.json"))
        out = hf_logits(torch, model, ids, device, positions)
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        log(f"transformers {dtype_name} {attn}{' + PEFT' if args.adapter else ''} on {device}: "
            f"{time.time() - t0:.1f} s")
        return out

    refs = {attn: run("fp32", attn) for attn in attns}
    primary = attns[0]
    for attn, ref in refs.items():
        report["runs"][f"medqa_{precision}_vs_hf_fp32_{attn}"] = diff(torch, medqa, ref)
        if attn != primary:
            report["runs"][f"hf_fp32_{attn}_vs_hf_fp32_{primary}"] = diff(torch, ref, refs[primary])

    # Judged against the first implementation only (eager by default: plain fp32 products and an fp32
    # softmax, no fused kernel); the others are shown with their own distance to it, which bounds how far
    # medqa may sit from them too (triangle inequality), so a second check would add nothing.
    failures = []
    if precision == "fp32":
        d = report["runs"][f"medqa_fp32_vs_hf_fp32_{primary}"]
        ok = d["finite"] and d["max_abs"] <= args.fp32_tol
        report["checks"].append({"check": f"medqa fp32 vs transformers fp32 ({primary}): max_abs <= {args.fp32_tol:g}",
                                 "value": d["max_abs"], "pass": ok})
        if not ok:
            failures.append(f"fp32 {primary}: max_abs {d['max_abs']:.3g} > {args.fp32_tol:g}")
    else:
        # transformers' own fp16 error against its fp32 reference is the noise level medqa is held to.
        noise_max = 0.0
        noise_mean = 0.0
        for attn in attns:
            half = run("fp16", attn)
            d = diff(torch, half, refs[primary])
            report["runs"][f"hf_fp16_{attn}_vs_hf_fp32_{primary}"] = d
            # Shown, not judged: how far medqa's fp16 sits from transformers' own fp16 (0 when both round
            # alike at every op; on different libtorch builds or kernels they need not).
            report["runs"][f"medqa_fp16_vs_hf_fp16_{attn}"] = diff(torch, medqa, half)
            noise_max = max(noise_max, d["max_abs"])
            noise_mean = max(noise_mean, d["mean_abs"])
        scale = report["runs"][f"medqa_fp16_vs_hf_fp32_{primary}"]["logit_scale"]
        floor = FP16_FLOOR * max(1.0, scale)
        m = report["runs"][f"medqa_fp16_vs_hf_fp32_{primary}"]
        for stat, noise in (("max_abs", noise_max), ("mean_abs", noise_mean)):
            bound = FP16_FACTOR * noise + floor
            ok = m["finite"] and m[stat] <= bound
            report["checks"].append({"check": f"medqa fp16 vs transformers fp32 ({primary}): {stat} <= "
                                              f"{FP16_FACTOR:g} x transformers fp16's {noise:.3g} + {floor:.3g}",
                                     "value": m[stat], "bound": bound, "pass": ok})
            if not ok:
                failures.append(f"fp16 {stat} {m[stat]:.3g} > {bound:.3g}")
    report["verdict"] = "PASS" if not failures else "FAIL"
    report["failures"] = failures
    return report


def print_report(r):
    print(f"model {r['model']}{' + adapter ' + r['adapter'] if r['adapter'] else ''}; medqa file {r['medqa_file']} "
          f"({r['medqa_meta'].get('dtype', '?')} on {r['medqa_meta'].get('device', '?')}, attention "
          f"{r['medqa_meta'].get('attention', '?')}, medqa "
          f"{r['medqa_meta'].get('medqa_version', '?')}); {r['rows']} x {r['seq_len']} ids, {r['positions']} positions, "
          f"vocab {r['vocab']}; transformers {r['versions']['transformers']}, torch {r['versions']['torch']} on "
          f"{r['device']}{' (' + r['versions']['cuda_device'] + ')' if r['versions']['cuda_device'] else ''}")
    print(f"{'comparison':44} {'max_abs':>10} {'mean_abs':>10} {'max/scale':>10} {'scale':>8} {'argmax':>8}")
    for name, d in r["runs"].items():
        print(f"{name:44} {d['max_abs']:10.3e} {d['mean_abs']:10.3e} {d['max_rel_to_scale']:10.3e} "
              f"{d['logit_scale']:8.3f} {d['argmax_agreement']:8.4f}")
    for c in r["checks"]:
        print(f"{'ok  ' if c['pass'] else 'FAIL'} {c['check']}: {c['value']:.3e}")
    if r.get("untied_head"):
        print("note: " + r["untied_head"])
    print(r["verdict"] + ("" if not r["failures"] else ": " + "; ".join(r["failures"])))


def cmd_compare(args):
    report = compare(args)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return EXIT_PASS if report["verdict"] == "PASS" else EXIT_FAIL


def cmd_selftest(args):
    """compare() on files made here: transformers' own logits PASS, perturbed ones FAIL."""
    torch = import_torch()
    from safetensors.torch import save_file
    model_dir = os.path.join(args.out, "model")
    cmd_make_model(argparse.Namespace(shape="tiny", out=model_dir, seed=0, dtype="float32", force=True))
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, SHAPES["tiny"]["vocab_size"], (2, 16), generator=gen)
    model = load_hf(torch, model_dir, None, torch.float32, "cpu", "eager")
    logits = hf_logits(torch, model, ids, "cpu", "all")
    half = hf_logits(torch, load_hf(torch, model_dir, None, torch.float16, "cpu", "eager"), ids, "cpu", "all")
    outcomes = []
    for name, values, dtype, want in (("same", logits, "fp32", "PASS"), ("perturbed", logits + 1e-2, "fp32", "FAIL"),
                                      ("half", half, "fp16", "PASS"), ("half-perturbed", half + 1e-2, "fp16", "FAIL")):
        path = os.path.join(args.out, f"{name}.safetensors")
        save_file({"input_ids": ids.contiguous(), "logits": values.contiguous()}, path, metadata={
            "format": "pt", "model": os.path.abspath(model_dir), "adapter": "", "dtype": dtype,
            "device": "cpu", "positions": "all"})
        r = compare(argparse.Namespace(model=model_dir, medqa=path, adapter=None, device="cpu", precision=None,
                                       attn="eager,sdpa", fp32_tol=FP32_TOL), torch)
        print_report(r)
        outcomes.append(r["verdict"] == want)
        print(f"selftest {name}: {r['verdict']} (expected {want})")
    ok = all(outcomes)
    print("selftest " + ("PASS" if ok else "FAIL"))
    return EXIT_PASS if ok else EXIT_FAIL


def parse_args(argv):
    p = argparse.ArgumentParser(description="Compare medqa's logits with transformers' Qwen3ForCausalLM (and PEFT).",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring (or docs/benchmarks.md) for the steps and criteria.")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-model", help="write a random-weight Qwen3 folder with transformers' init")
    m.add_argument("--shape", required=True, choices=sorted(SHAPES))
    m.add_argument("--out", required=True, help="folder to write")
    m.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the init (default 0)")
    m.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="stored weight dtype (default float32; bfloat16 as the released checkpoints)")
    m.add_argument("--force", action="store_true", help="overwrite a model already in --out")
    c = sub.add_parser("compare", help="compare medqa logits' file with transformers (and PEFT)")
    c.add_argument("--model", required=True, help="the model folder medqa logits read")
    c.add_argument("--medqa", required=True, help="the file medqa logits wrote")
    c.add_argument("--adapter", help="PEFT adapter folder (the one medqa logits applied)")
    c.add_argument("--device", help="cuda or cpu (default: cuda when torch sees one)")
    c.add_argument("--precision", choices=["fp32", "fp16"], help="medqa's compute dtype (default: the file's)")
    c.add_argument("--attn", default="eager,sdpa",
                   help="transformers attention implementations to run, the first the judged reference "
                        "(default eager,sdpa)")
    c.add_argument("--fp32-tol", type=float, default=FP32_TOL, help=f"fp32 max |difference| (default {FP32_TOL:g})")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    s = sub.add_parser("selftest", help="check this script on a tiny model on the CPU (no medqa needed)")
    s.add_argument("--out", required=True, help="scratch folder")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        return {"make-model": cmd_make_model, "compare": cmd_compare, "selftest": cmd_selftest}[args.command](args)
    except Refused as e:
        print(f"hf_parity: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
