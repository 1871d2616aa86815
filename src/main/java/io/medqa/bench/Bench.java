package io.medqa.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.Version;
import io.medqa.config.TrainConfig;
import io.medqa.data.MicroBatch;
import io.medqa.eval.LetterScorer;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Config;
import io.medqa.model.Qwen3Model;
import io.medqa.train.AdamW;
import io.medqa.train.LossScaler;
import io.medqa.train.TrainStep;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Times LoRA training steps (or letter scoring with {@code eval}) on synthetic tokens through the
 * code {@code medqa train} and {@code medqa eval} run: {@link TrainStep#step} with AdamW and the fp16
 * loss scaler, {@link LetterScorer#letterLogProbs}. Warm-up steps run the same code untimed. A step's
 * batches are built on the host before its clock starts, as in the trainer.
 *
 * <p>The fixed hyper-parameters are the reference recipe's: lr 2e-4 (constant), AdamW betas 0.9/0.999,
 * eps 1e-8, no weight decay, clipping at 1.0 (unless --max-grad-norm), loss scale 2^16 for fp16 (unless
 * --loss-scale).
 */
public final class Bench {

    public static final double LR = 2e-4;
    public static final double MAX_GRAD_NORM = 1.0;
    /** Qwen3's tokens for "A".."D" (byte-level BPE: '!' is 0, so 'A' is 32); any ids would time the same. */
    static final int[] LETTERS = {32, 33, 34, 35};

    /**
     * @param source what the weights are, for the report ("shape qwen3-1.7b (random weights)" or a folder)
     * @param peakTflops the device's peak for the compute dtype, for MFU; 0 leaves MFU out
     * @param maxGradNorm global gradient-norm clipping (0: none); the reference recipe's is {@link #MAX_GRAD_NORM}
     * @param lossScale the fp16 loss scaler's initial scale (2^16 in the reference recipe)
     * @param saveAdapters null, or a folder for the adapter before the first step ({@code initial/}) and after
     *     the last ({@code final/}), so that bench/hf_train_parity.py can repeat the steps on PEFT and compare
     */
    public record Options(String source, int microBatch, int seqLen, int gradAccum, TrainConfig.Lora lora,
                          int warmup, int steps, double peakTflops, long seed, boolean eval, String optim,
                          java.nio.file.Path saveAdapters, double maxGradNorm, double lossScale) {
        public Options {
            if (!(lossScale > 0) || Double.isInfinite(lossScale)) {
                throw new MedqaException(ExitCodes.USAGE, "--loss-scale must be > 0, got " + lossScale);
            }
            if (!(maxGradNorm >= 0) || Double.isInfinite(maxGradNorm)) {
                throw new MedqaException(ExitCodes.USAGE, "--max-grad-norm must be >= 0 (0: no clipping), got " + maxGradNorm);
            }
            if (saveAdapters != null && eval) {
                throw new MedqaException(ExitCodes.USAGE, "--save-adapters records training steps; leave out --eval");
            }
            if (!AdamW.FUSED.equals(optim) && !AdamW.PER_TENSOR.equals(optim)) {
                throw new MedqaException(ExitCodes.USAGE, "--optim must be " + AdamW.FUSED + " or " + AdamW.PER_TENSOR
                        + ", got " + optim);
            }
            positive("--micro-batch", microBatch);
            positive("--grad-accum", gradAccum);
            positive("--steps", steps);
            if (seqLen < 2) {
                throw new MedqaException(ExitCodes.USAGE, "--seq-len must be >= 2, got " + seqLen);
            }
            if (warmup < 0) {
                throw new MedqaException(ExitCodes.USAGE, "--warmup must be >= 0, got " + warmup);
            }
            if (!(peakTflops >= 0)) {
                throw new MedqaException(ExitCodes.USAGE, "--peak-tflops must be >= 0, got " + peakTflops);
            }
        }

        private static void positive(String name, int v) {
            if (v < 1) {
                throw new MedqaException(ExitCodes.USAGE, name + " must be >= 1, got " + v);
            }
        }
    }

    private Bench() {}

    /**
     * Runs the benchmark on {@code model} (left as it was: the adapter is removed at the end).
     *
     * @param progress one line per step, for the console
     * @return the report, as {@code --json} prints it
     */
    public static ObjectNode run(Qwen3Model model, Options o, Consumer<String> progress) {
        return run(model, o, progress, null);
    }

    /**
     * As {@link #run(Qwen3Model, Options, Consumer)}; with {@code profile}, one more training step after
     * the timed ones (so the figures carry no profiler overhead) runs under libtorch's autograd profiler,
     * whose Chrome trace goes to {@code profile}, and the report gains the step's op count by name: how
     * many kernels a step launches is what a GPU pays for per op, and what "fewer launches" is measured by.
     */
    public static ObjectNode run(Qwen3Model model, Options o, Consumer<String> progress, java.nio.file.Path profile) {
        ObjectNode report = header(model, o);
        Qwen3Config c = model.config();
        SyntheticTokens tokens = new SyntheticTokens(o.seed(), c.vocabSize());
        int total = o.warmup() + o.steps();
        double[] seconds = new double[o.steps()];
        long rssAfterWarmup = -1;
        long gpuAfterWarmup = -1;
        long gpuPeak = -1;
        try (LoraAdapter adapter = LoraAdapter.inject(model, o.lora(), o.seed(), null)) {
            report.with("parameters").put("base", model.parameterCount()).put("trainable", adapter.trainableParameters());
            double flopsPerStep;
            long tokensPerStep;
            if (o.eval()) {
                tokensPerStep = (long) o.microBatch() * o.seqLen();
                flopsPerStep = FlopCount.forward(c, o.lora().targetModules(), o.lora().r(), o.microBatch(), o.seqLen(),
                        o.microBatch());
                for (int step = 1; step <= total; step++) {
                    if (step == o.warmup() + 1) {
                        rssAfterWarmup = MemoryStats.rssBytes();
                        gpuAfterWarmup = MemoryStats.gpuUsedBytes(model.device());
                    }
                    int[][] inputs = tokens.rows(o.microBatch(), o.seqLen());
                    long t0 = System.nanoTime();
                    LetterScorer.letterLogProbs(model, 0, inputs, LETTERS); // ends in a host read
                    double dt = (System.nanoTime() - t0) / 1e9;
                    gpuPeak = Math.max(gpuPeak, MemoryStats.gpuUsedBytes(model.device()));
                    record(seconds, step, o, dt, progress, "batch");
                }
                StepTimes times = StepTimes.of(seconds);
                report.put("questions_per_s", o.microBatch() / times.median());
            } else {
                tokensPerStep = (long) o.microBatch() * o.seqLen() * o.gradAccum();
                flopsPerStep = o.gradAccum()
                        * FlopCount.trainMicroBatch(c, o.lora().targetModules(), o.lora().r(), o.microBatch(), o.seqLen());
                List<NDArray> params = new ArrayList<>();
                adapter.params().forEach(p -> params.add(p.array()));
                Engine engine = Devices.engine();
                ArrayNode losses = report.putArray("losses");
                ArrayNode gradNorms = report.putArray("grad_norms");
                ArrayNode scales = report.putArray("loss_scales");
                report.put("lr", LR).put("max_grad_norm", o.maxGradNorm());
                if (o.saveAdapters() != null) {
                    saveAdapter(adapter, o.saveAdapters().resolve("initial"), o.source());
                }
                LossScaler scaler = new LossScaler(model.dtype() == DataType.FLOAT16, o.lossScale(), 2000);
                try (AdamW optimizer = new AdamW(params, 0.9, 0.999, 1e-8, 0.0, o.optim())) {
                    report.put("optim", optimizer.implementation());
                    for (int step = 1; step <= total; step++) {
                        if (step == o.warmup() + 1) {
                            rssAfterWarmup = MemoryStats.rssBytes();
                            gpuAfterWarmup = MemoryStats.gpuUsedBytes(model.device());
                        }
                        List<MicroBatch> batches = stepBatches(tokens, o);
                        long t0 = System.nanoTime();
                        engine.setRandomSeed((int) (o.seed() + step)); // dropout, as the trainer seeds it
                        TrainStep.Outcome out = TrainStep.step(model, adapter, batches, scaler, optimizer, LR,
                                o.maxGradNorm());
                        if (model.device().isGpu()) {
                            waitForDevice(params.get(0)); // the update is queued after the step's host read
                        }
                        double dt = (System.nanoTime() - t0) / 1e9;
                        gpuPeak = Math.max(gpuPeak, MemoryStats.gpuUsedBytes(model.device()));
                        losses.add(out.loss());
                        gradNorms.add(out.gradNorm());
                        scales.add(out.lossScale());
                        record(seconds, step, o, dt, progress, String.format(java.util.Locale.ROOT,
                                "loss %.4f%s", out.loss(), out.stepped() ? "" : " (skipped: overflow)"));
                    }
                    if (o.saveAdapters() != null) {
                        saveAdapter(adapter, o.saveAdapters().resolve("final"), o.source());
                        report.put("adapters", o.saveAdapters().toString());
                    }
                    report.put("skipped_steps", scaler.skippedSteps());
                    report.put("final_loss_scale", scaler.scale());
                    if (profile != null) {
                        List<MicroBatch> batches = stepBatches(tokens, o);
                        engine.setRandomSeed((int) (o.seed() + total + 1));
                        JniUtils.startProfile(model.device().isGpu(), false, false);
                        try {
                            TrainStep.step(model, adapter, batches, scaler, optimizer, LR, o.maxGradNorm());
                            if (model.device().isGpu()) {
                                waitForDevice(params.get(0));
                            }
                        } finally {
                            JniUtils.stopProfile(profile.toString());
                        }
                        report.set("profile", ProfileSummary.of(profile).toJson(report.objectNode()));
                    }
                }
            }
            StepTimes times = StepTimes.of(seconds);
            report.put("tokens_per_step", tokensPerStep);
            ObjectNode st = report.putObject("step_time_s");
            st.put("median", times.median()).put("mean", times.mean()).put("stdev", times.stdev())
                    .put("min", times.min()).put("max", times.max());
            ArrayNode all = st.putArray("all");
            for (double s : times.all()) {
                all.add(s);
            }
            report.put("tokens_per_s", tokensPerStep / times.median());
            report.put("flops_per_step", flopsPerStep);
            double achieved = flopsPerStep / times.median() / 1e12;
            report.put("achieved_tflops", achieved);
            if (o.peakTflops() > 0) {
                report.put("peak_tflops", o.peakTflops()).put("mfu", achieved / o.peakTflops());
            } else {
                report.putNull("peak_tflops").putNull("mfu");
            }
        }
        long rssEnd = MemoryStats.rssBytes();
        ObjectNode mem = report.putObject("memory");
        mem.put("peak_rss_bytes", MemoryStats.peakRssBytes());
        mem.put("rss_after_warmup_bytes", rssAfterWarmup);
        mem.put("rss_end_bytes", rssEnd);
        mem.put("rss_growth_bytes", rssAfterWarmup < 0 || rssEnd < 0 ? 0 : rssEnd - rssAfterWarmup);
        if (model.device().isGpu()) {
            mem.put("gpu_used_peak_bytes", gpuPeak);
            mem.put("gpu_used_after_warmup_bytes", gpuAfterWarmup);
        }
        return report;
    }

    private static void record(double[] seconds, int step, Options o, double dt, Consumer<String> progress, String what) {
        boolean timed = step > o.warmup();
        if (timed) {
            seconds[step - o.warmup() - 1] = dt;
        }
        progress.accept(String.format(java.util.Locale.ROOT, "%s %d/%d: %.3f s, %s",
                timed ? "step" : "warm-up", timed ? step - o.warmup() : step, timed ? o.steps() : o.warmup(), dt, what));
    }

    private static void saveAdapter(LoraAdapter adapter, java.nio.file.Path dir, String baseModel) {
        try {
            java.nio.file.Files.createDirectories(dir);
        } catch (java.io.IOException e) {
            throw new MedqaException(ExitCodes.IO, "--save-adapters: cannot create " + dir + ": " + e.getMessage(), e);
        }
        adapter.save(dir, baseModel);
    }

    /** A one-element host read: returns once every queued kernel that writes {@code p} has run. */
    private static void waitForDevice(NDArray p) {
        try (NDArray first = p.get(new NDIndex("0, 0"))) {
            first.toFloatArray();
        }
    }

    /** One optimizer step's micro-batches, the next ones of the synthetic stream. */
    private static List<MicroBatch> stepBatches(SyntheticTokens tokens, Options o) {
        List<MicroBatch> batches = new ArrayList<>();
        for (int k = 0; k < o.gradAccum(); k++) {
            batches.add(tokens.microBatch(o.microBatch(), o.seqLen()));
        }
        return batches;
    }

    private static ObjectNode header(Qwen3Model model, Options o) {
        Qwen3Config c = model.config();
        ObjectNode r = new ObjectMapper().createObjectNode();
        r.put("bench", "medqa");
        r.put("mode", o.eval() ? "eval" : "train");
        r.put("date", Instant.now().toString());
        r.put("medqa_version", Version.get());
        r.put("engine", "DJL 0.35.1, PyTorch " + Devices.engine().getVersion());
        r.put("device", model.device().toString());
        r.put("cpu_cores", Runtime.getRuntime().availableProcessors());
        r.put("torch_threads", JniUtils.getNumThreads());
        r.put("model", o.source());
        r.putObject("config")
                .put("vocab_size", c.vocabSize()).put("hidden_size", c.hiddenSize())
                .put("intermediate_size", c.intermediateSize()).put("num_hidden_layers", c.numHiddenLayers())
                .put("num_attention_heads", c.numAttentionHeads()).put("num_key_value_heads", c.numKeyValueHeads())
                .put("head_dim", c.headDim()).put("tie_word_embeddings", c.tieWordEmbeddings());
        r.put("precision", model.dtype() == DataType.FLOAT16 ? "fp16" : "fp32");
        r.put("micro_batch", o.microBatch());
        r.put("seq_len", o.seqLen());
        r.put("grad_accum", o.gradAccum());
        ObjectNode lora = r.putObject("lora");
        lora.put("r", o.lora().r()).put("alpha", o.lora().alpha()).put("dropout", o.lora().dropout());
        ArrayNode targets = lora.putArray("target_modules");
        o.lora().targetModules().forEach(targets::add);
        r.put("warmup", o.warmup());
        r.put("steps", o.steps());
        r.put("seed", o.seed());
        r.putObject("parameters");
        return r;
    }
}
