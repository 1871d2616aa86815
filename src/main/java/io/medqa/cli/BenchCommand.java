package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.bench.Bench;
import io.medqa.bench.BenchShape;
import io.medqa.config.TrainConfig;
import io.medqa.model.Attention;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Model;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** {@code medqa bench}: training-step or scoring throughput on synthetic tokens. */
@Command(name = "bench",
        description = "Time LoRA training steps (or, with --eval, letter scoring) on synthetic tokens, on a model "
                + "folder or a named Qwen3 shape with random weights, through the same step as medqa train. Prints "
                + "step time (median and spread after warm-up), tokens/s, peak memory and MFU. "
                + "bench/hf_peft_bench.py runs the same job on transformers + PEFT (docs/benchmarks.md).",
        mixinStandardHelpOptions = true,
        usageHelpWidth = 110,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa bench --shape tiny --steps 5",
            "  medqa bench --shape qwen3-0.6b --micro-batch 1 --seq-len 128 --warmup 1 --steps 3 --device cpu",
            "  medqa bench --shape qwen3-1.7b --micro-batch 4 --seq-len 512 --precision fp16 --device gpu \\",
            "      --peak-tflops 989 --json > medqa-bench.json",
            "  medqa bench --model ./Qwen3-1.7B --eval --micro-batch 16 --seq-len 256 --device gpu",
            "  medqa bench --shape qwen3-1.7b --precision fp16 --device gpu --steps 5 --profile step.json",
            "  medqa bench --model ./tiny --lora-dropout 0 --save-adapters steps --json > steps.json"
        })
final class BenchCommand extends BaseCommand {

    static final class Source {
        @Option(names = "--model", paramLabel = "DIR", description = "A Hugging Face Qwen3 folder.")
        Path model;

        @Option(names = "--shape", paramLabel = "NAME",
                description = "A named shape with random weights made in memory: qwen3-1.7b, qwen3-0.6b or tiny.")
        String shape;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--device", paramLabel = "auto|cpu|gpu|gpu:N", defaultValue = "auto",
            description = "Where to compute (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--precision", paramLabel = "auto|fp32|fp16|bf16", defaultValue = "auto",
            description = "Compute dtype of the frozen weights (default: ${DEFAULT-VALUE}: fp16 on a GPU, fp32 on the "
                    + "CPU); LoRA matrices stay fp32; fp16 trains with loss scaling. bf16 is refused (DJL 0.35.1).")
    String precision;

    @Option(names = "--attention", paramLabel = "eager|sdpa", defaultValue = Attention.DEFAULT_NAME,
            description = "Attention kernel, as transformers' attn_implementation (default: ${DEFAULT-VALUE}).")
    String attention;

    @Option(names = "--micro-batch", paramLabel = "N", defaultValue = "4",
            description = "Rows per forward/backward (questions per batch with --eval; default: ${DEFAULT-VALUE}).")
    int microBatch;

    @Option(names = "--seq-len", paramLabel = "T", defaultValue = "512",
            description = "Tokens per row (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--grad-accum", paramLabel = "K", defaultValue = "1",
            description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--lora-targets", paramLabel = "LIST", split = ",", defaultValue = "q_proj,k_proj,v_proj,o_proj",
            description = "Projections LoRA wraps (default: ${DEFAULT-VALUE}).")
    List<String> loraTargets;

    @Option(names = "--lora-r", paramLabel = "R", defaultValue = "8", description = "LoRA rank (default: ${DEFAULT-VALUE}).")
    int loraR;

    @Option(names = "--lora-alpha", paramLabel = "A", defaultValue = "16",
            description = "LoRA alpha (default: ${DEFAULT-VALUE}).")
    double loraAlpha;

    @Option(names = "--lora-dropout", paramLabel = "P", defaultValue = "0.05",
            description = "Dropout on the LoRA input (default: ${DEFAULT-VALUE}).")
    double loraDropout;

    @Option(names = "--optim", paramLabel = "adamw_torch_fused|adamw_torch", defaultValue = "adamw_torch_fused",
            description = "AdamW implementation, as train.optim (default: ${DEFAULT-VALUE}).")
    String optim;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "3",
            description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "10", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--peak-tflops", paramLabel = "X", defaultValue = "0",
            description = "The device's peak TFLOP/s for the compute dtype, for model FLOP utilisation "
                    + "(e.g. 989 for an H100 SXM in dense fp16; default: none).")
    double peakTflops;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seeds the tokens, the random weights and LoRA's A (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "libtorch's intra-op threads on the CPU (default: libtorch's choice, one per core). On a "
                    + "machine other work keeps busy, 1 can be many times faster (see docs/benchmarks.md).")
    int threads;

    @Option(names = "--eval", description = "Time log-likelihood letter scoring of synthetic questions instead "
            + "(one forward pass per batch, as medqa eval --mode loglik).")
    boolean eval;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    boolean json;

    @Option(names = "--profile", paramLabel = "FILE",
            description = "After the timed steps, run one more training step under libtorch's profiler, write "
                    + "its Chrome trace (chrome://tracing, Perfetto) to FILE and report the step's op calls by name.")
    Path profile;

    @Option(names = "--max-grad-norm", paramLabel = "X", defaultValue = "1.0",
            description = "Global gradient-norm clipping, as train.max_grad_norm; 0 disables (default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--loss-scale", paramLabel = "X", defaultValue = "65536",
            description = "fp16's initial loss scale, as train.loss_scale_init (default: ${DEFAULT-VALUE}).")
    double lossScale;

    @Option(names = "--save-adapters", paramLabel = "DIR",
            description = "Write the adapter before the first step to DIR/initial and after the last to DIR/final "
                    + "(PEFT format), and each step's gradient norm and loss scale to the report: "
                    + "bench/hf_train_parity.py repeats the steps on transformers + PEFT from DIR/initial and compares "
                    + "(use --model, --lora-dropout 0).")
    Path saveAdapters;

    @Override
    int run() {
        Device d = Devices.resolve(device);
        if (threads < 0) {
            throw new MedqaException(ExitCodes.USAGE, "--threads must be >= 0, got " + threads);
        }
        if (threads > 0) {
            Devices.engine(); // loads libtorch
            JniUtils.setNumThreads(threads);
        }
        DataType dtype;
        try {
            dtype = Devices.computeType(precision, d);
        } catch (MedqaException e) {
            throw new MedqaException(e.exitCode(), "--precision: " + e.getMessage());
        }
        Attention kernel;
        try {
            kernel = Attention.parse(attention);
        } catch (MedqaException e) {
            throw new MedqaException(e.exitCode(), "--attention: " + e.getMessage());
        }
        TrainConfig.Lora lora;
        try {
            lora = new TrainConfig.Lora(loraR, loraAlpha, loraDropout, loraTargets, false);
        } catch (RuntimeException e) {
            throw new MedqaException(ExitCodes.USAGE, e.getMessage().replace("lora.target_modules", "--lora-targets")
                    .replace("lora.", "--lora-"));
        }
        String label = source.shape != null
                ? "shape " + source.shape + " (random weights)"
                : source.model.toString();
        Bench.Options options = new Bench.Options(label, microBatch, seqLen, gradAccum, lora, warmup, steps, peakTflops,
                seed, eval, optim, saveAdapters, maxGradNorm, lossScale);
        if (profile != null && eval) {
            throw new MedqaException(ExitCodes.USAGE, "--profile profiles a training step; leave out --eval");
        }
        if (profile != null && (Files.isDirectory(profile)
                || (profile.toAbsolutePath().getParent() != null && !Files.isDirectory(profile.toAbsolutePath().getParent())))) {
            throw new MedqaException(ExitCodes.USAGE, "--profile " + profile + ": give a file in an existing folder");
        }
        if (source.model != null && !Files.isDirectory(source.model)) {
            throw new MedqaException(ExitCodes.NO_INPUT, source.model + ": model folder not found");
        }
        try (Qwen3Model model = source.shape != null
                ? Qwen3Model.random(BenchShape.of(source.shape), d, dtype, seed)
                : Qwen3Model.load(source.model, d, dtype)) {
            model.setAttention(kernel);
            ObjectNode report = Bench.run(model, options, line -> {
                if (!json) {
                    err().println(line);
                }
            }, profile);
            report.put("attention", kernel.id());
            report.put("kv_heads", model.kvHeads());
            if (json) {
                out().println(report.toString());
            } else {
                printText(report);
                if (report.has("profile")) {
                    printProfile(report.get("profile"));
                }
            }
        }
        return ExitCodes.OK;
    }

    private void printProfile(JsonNode p) {
        StringBuilder top = new StringBuilder();
        for (JsonNode op : p.get("top")) {
            if (top.length() > 0) {
                top.append(", ");
            }
            if (op.get("name").asText().length() + top.length() > 160) {
                top.append("...");
                break;
            }
            top.append(op.get("name").asText()).append(' ').append(op.get("calls").asLong());
        }
        out().printf(Locale.ROOT, "profile: %,d aten op calls in one step (%,d events, %d distinct), trace in %s; most called: %s%n",
                p.get("aten_ops").asLong(), p.get("ops").asLong(), p.get("distinct").asInt(), p.get("file").asText(), top);
    }

    private void printText(JsonNode r) {
        JsonNode st = r.get("step_time_s");
        JsonNode mem = r.get("memory");
        out().printf(Locale.ROOT, "%s on %s (%d torch threads), %s, attention %s: %s, micro-batch %d x %d tokens%s, LoRA r %d on %s%n",
                r.get("mode").asText(), r.get("device").asText(), r.get("torch_threads").asInt(), r.get("precision").asText(),
                r.get("attention").asText(), r.get("model").asText(),
                r.get("micro_batch").asInt(), r.get("seq_len").asInt(),
                r.get("grad_accum").asInt() > 1 ? " x " + r.get("grad_accum").asInt() + " accumulated" : "",
                r.get("lora").get("r").asInt(), r.get("lora").get("target_modules").toString());
        out().printf(Locale.ROOT, "parameters: %,d base, %,d trainable%n",
                r.get("parameters").get("base").asLong(), r.get("parameters").get("trainable").asLong());
        out().printf(Locale.ROOT, "step time: median %.4f s (min %.4f, max %.4f, stdev %.4f) over %d steps after %d warm-up%n",
                st.get("median").asDouble(), st.get("min").asDouble(), st.get("max").asDouble(),
                st.get("stdev").asDouble(), r.get("steps").asInt(), r.get("warmup").asInt());
        out().printf(Locale.ROOT, "throughput: %,.1f tokens/s%s%n", r.get("tokens_per_s").asDouble(),
                r.has("questions_per_s") ? String.format(Locale.ROOT, ", %.2f questions/s", r.get("questions_per_s").asDouble()) : "");
        out().printf(Locale.ROOT, "compute: %.3g FLOPs per step, %.3f TFLOP/s%s%n", r.get("flops_per_step").asDouble(),
                r.get("achieved_tflops").asDouble(), r.get("mfu").isNull() ? " (give --peak-tflops for MFU)"
                        : String.format(Locale.ROOT, ", MFU %.1f%% of %.1f", 100 * r.get("mfu").asDouble(),
                                r.get("peak_tflops").asDouble()));
        out().printf(Locale.ROOT, "memory: peak RSS %s, RSS after warm-up %s, at the end %s (growth %s)%s%n",
                mib(mem.get("peak_rss_bytes").asLong()), mib(mem.get("rss_after_warmup_bytes").asLong()),
                mib(mem.get("rss_end_bytes").asLong()),
                String.format(Locale.ROOT, "%+,.0f MiB", mem.get("rss_growth_bytes").asLong() / (1024.0 * 1024.0)),
                mem.has("gpu_used_peak_bytes") ? ", GPU in use at most " + mib(mem.get("gpu_used_peak_bytes").asLong()) : "");
        if (r.has("losses") && r.get("losses").size() > 0) {
            JsonNode l = r.get("losses");
            out().printf(Locale.ROOT, "loss: first %.4f, last %.4f; %d skipped steps; optimizer %s%n", l.get(0).asDouble(),
                    l.get(l.size() - 1).asDouble(), r.get("skipped_steps").asLong(), r.path("optim").asText());
        }
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format(Locale.ROOT, "%,.0f MiB", bytes / (1024.0 * 1024.0));
    }
}
