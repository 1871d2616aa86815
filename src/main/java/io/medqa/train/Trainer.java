package io.medqa.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.Version;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.data.MicroBatch;
import io.medqa.data.TrainData;
import io.medqa.eval.LetterScorer;
import io.medqa.io.AtomicFiles;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Checkpoint;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Config;
import io.medqa.model.Attention;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * LoRA fine-tuning of a Qwen3 model: setup, the loop, checkpoints, final outputs.
 *
 * <p>One optimizer step: learning rate for the step; grad_accum_steps micro-batches, each forward +
 * backward of (sum of answer-token NLL) * loss_scale / (answer tokens in the whole step), so the
 * gradient is that of the mean over the step's answer tokens; one host read of the loss and the global
 * gradient norm; skip on inf/NaN (fp16); clip to max_grad_norm; AdamW; zero the gradients.
 */
public final class Trainer {

    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);

    /** What the console shows; the CLI draws the progress bar from these. */
    public interface Listener {
        void started(int firstStep, int totalSteps, String summary);

        void step(StepRecord record);

        void evaluated(int step, double loss);

        void finished();
    }

    /** One optimizer step; {@code epoch} is fractional (2.5: halfway through the third epoch). */
    public record StepRecord(int step, int totalSteps, double loss, double lr, double gradNorm, double lossScale,
                             boolean skipped, long tokens, double tokensPerSecond, double elapsedSeconds,
                             double epoch) {}

    public record Result(int steps, double finalLoss, long skippedSteps, boolean interrupted, Path outputDir) {}

    private final TrainConfig config;
    private final ObjectNode resolvedTree;
    private final Path resumeFrom;
    private final Listener listener;
    private final AtomicBoolean stopRequested;
    /** This run's identity (kept across resumes), in run.json and every checkpoint. */
    private String runId;

    /**
     * @param resumeFrom a checkpoint folder, or null to start afresh
     * @param stopRequested set (by Ctrl-C) to save a checkpoint and stop at the next step boundary
     */
    public Trainer(TrainConfig config, ObjectNode resolvedTree, Path resumeFrom, Listener listener,
                   AtomicBoolean stopRequested) {
        this.config = config;
        this.resolvedTree = resolvedTree;
        this.resumeFrom = resumeFrom;
        this.listener = listener;
        this.stopRequested = stopRequested;
    }

    public Result run() throws IOException {
        TrainConfig.Train t = config.train();
        Path out = Path.of(config.output().dir());
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw RunFolder.cannotWrite(out, e);
        }
        Path modelDir = Path.of(config.model().path());
        String configYaml = ConfigLoader.toYaml(config);
        LOG.info("resolved config:\n{}", configYaml);

        Device device = Devices.resolve(config.device());
        DataType dtype = computeType(t.precision());
        if (dtype == DataType.FLOAT16 && !device.isGpu()) {
            LOG.warn("train.precision fp16 on the CPU is several times slower than fp32; consider --set train.precision=fp32");
        }

        try (QwenTokenizer tokenizer = QwenTokenizer.load(modelDir)) {
            // The data is read and validated in full before the model is loaded: a bad line fails fast.
            TrainData data = new TrainData(config.data().train(), "train", config.data(), tokenizer, t.seed());
            TrainData.Summary summary = data.summary();
            List<MicroBatch> validation = validationBatches(tokenizer);
            List<McqSample> questions = validation == null ? null : validationQuestions();
            Plan plan = plan(t, summary.samples());
            int perStep = plan.samplesPerStep();
            int totalSteps = plan.totalSteps();
            String dataLine = String.format(Locale.ROOT,
                    "data: %d samples from %s (%s); %d lines skipped as errors, %d truncated, %d skipped as longer "
                            + "than %d tokens; %d steps of %d samples",
                    summary.samples(), config.data().train(), summary.note(), summary.skippedErrors(),
                    summary.truncated(), summary.skippedOverlong(), config.data().maxSeqLen(), totalSteps, perStep);
            LOG.info(dataLine);

            Checkpoints.Loaded resumed = resumeFrom == null ? null
                    : Checkpoints.load(resumeFrom, Qwen3Config.load(modelDir), config.lora());
            runId = resumed != null && resumed.state().runId() != null ? resumed.state().runId() : RunFolder.newId();
            String configSha = RunInfo.sha256(configYaml);
            if (resumed != null && !configSha.equals(resumed.state().configSha256())) {
                LOG.warn("the config differs from the one {} was trained with; continuing with the new one", resumeFrom);
            }
            // Written once the data and the checkpoint have passed their checks: a failed resume keeps the old ones.
            AtomicFiles.writeString(out.resolve("config.yaml"), configYaml);
            ObjectNode run = startRunJson(device, dtype, data, modelDir, configSha, summary);

            try (Qwen3Model model = Qwen3Model.load(modelDir, device, dtype);
                 LoraAdapter adapter = LoraAdapter.inject(model, config.lora(), t.seed(),
                         resumed == null ? null : resumed.adapter());
                 AdamW optimizer = new AdamW(params(adapter), t.adamBeta1(), t.adamBeta2(), t.adamEpsilon(),
                         t.weightDecay(), t.optim())) {
                model.setAttention(Attention.parse(config.model().attention()));
                long trainable = adapter.trainableParameters();
                long total = model.parameterCount() + trainable;
                String counts = String.format(Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f",
                        trainable, total, 100.0 * trainable / total);
                LOG.info(counts);
                run.put("trainable_parameters", trainable).put("total_parameters", total);
                // What the optimizer really computes with: adamw_torch when the fused ops were missing.
                run.put("optimizer", optimizer.implementation());
                LOG.info("optimizer: AdamW ({})", optimizer.implementation());

                LossScaler scaler = new LossScaler(dtype == DataType.FLOAT16, t.lossScaleInit(), t.lossScaleGrowthInterval());
                int firstStep = 1;
                int epoch = 0;
                long consumed = 0;
                long tokensSeen = 0;
                if (resumed != null) {
                    TrainerState s = resumed.state();
                    optimizer.restore(resumed.optimizer(), s.adamSteps());
                    scaler.restore(s.lossScale(), s.cleanSteps(), s.skippedSteps());
                    firstStep = s.step() + 1;
                    epoch = s.epoch();
                    consumed = s.consumed();
                    tokensSeen = s.tokensSeen();
                    LOG.info("resumed from {} at step {}", resumeFrom, s.step());
                }
                LrSchedule schedule = LrSchedule.of(t.scheduler(), t.lr(), totalSteps, t.warmupRatio());
                listener.started(firstStep, totalSteps, counts + "\n" + dataLine);
                Validation val = validation == null ? null : new Validation(validation, questions,
                        LetterScorer.chat(model, tokenizer), adapter,
                        t.saveBest() ? new BestAdapter(out, modelDir.toString(), firstStep - 1) : null);

                Engine engine = Devices.engine();
                double lastLoss = Double.NaN;
                int step = firstStep - 1;
                boolean interrupted = false;
                long startNanos = System.nanoTime();
                try (Metrics metrics = new Metrics(out, firstStep - 1, t.tensorboard())) {
                    if (t.tensorboard()) {
                        LOG.info("TensorBoard event files in {}: tensorboard --logdir {}",
                                out.resolve(TensorBoardWriter.DIR), out);
                    }
                    // The data position (epoch, consumed) is that of the last step trained, not of the one
                    // being prepared ahead: a checkpoint resumes with the first step not yet trained.
                    long waitNanos = 0;
                    TrainData.Steps steps = data.steps(epoch, consumed, Math.max(0, totalSteps - step), perStep,
                            t.microBatchSize(), config.data().prefetch());
                    try {
                        while (step < totalSteps) {
                            if (stopRequested.get()) {
                                interrupted = true;
                                break;
                            }
                            long w0 = System.nanoTime();
                            TrainData.Step next = steps.next();
                            long waited = System.nanoTime() - w0;
                            waitNanos += waited;
                            List<MicroBatch> batches = next.batches();
                            epoch = next.epoch();
                            consumed = next.consumed();
                            step++;
                            long t0 = System.nanoTime();
                            double lr = schedule.lr(step - 1);
                            // Dropout masks depend only on (seed, step): a resumed run draws the same ones.
                            engine.setRandomSeed((int) (t.seed() + step));
                            TrainStep.Outcome outcome = TrainStep.step(model, adapter, batches, scaler, optimizer, lr,
                                    t.maxGradNorm());
                            double loss = outcome.loss();
                            double gradNorm = outcome.gradNorm();
                            double scale = outcome.lossScale();
                            boolean stepped = outcome.stepped();
                            if (!stepped) {
                                LOG.warn("step {}: gradients overflowed at loss scale {}; step skipped, scale now {}",
                                        step, scale, scaler.scale());
                            }
                            long tokens = batches.stream().mapToLong(MicroBatch::tokens).sum();
                            tokensSeen += tokens;
                            double seconds = (System.nanoTime() - t0) / 1e9;
                            lastLoss = loss;
                            StepRecord rec = new StepRecord(step, totalSteps, loss, lr, gradNorm, scale, !stepped,
                                    tokens, tokens / seconds, (System.nanoTime() - startNanos) / 1e9,
                                    epoch + (double) consumed / summary.samples());
                            metrics.write(stepRecord(metrics, rec).put("data_wait_s", waited / 1e9));
                            listener.step(rec);

                            if (t.saveSteps() > 0 && step % t.saveSteps() == 0 && step < totalSteps) {
                                saveCheckpoint(out, step, totalSteps, epoch, consumed, scaler, optimizer,
                                        adapter, tokensSeen, configSha, modelDir);
                                metrics.writeCurve();
                            }
                            if (validation != null && t.evalSteps() > 0 && step % t.evalSteps() == 0) {
                                evaluate(model, val, step, metrics);
                            }
                        }
                        if (interrupted) {
                            Path ckpt = saveCheckpoint(out, step, totalSteps, epoch, consumed, scaler, optimizer,
                                    adapter, tokensSeen, configSha, modelDir);
                            LOG.info("interrupted: saved {}", ckpt);
                        } else if (validation != null && t.evalSteps() > 0 && step % t.evalSteps() != 0) {
                            evaluate(model, val, step, metrics);
                        }
                    } finally {
                        steps.close();
                    }
                    int trained = step - (firstStep - 1);
                    LOG.info("data: waited {} ms for batches over {} steps ({} ms a step, prefetch {})",
                            String.format(Locale.ROOT, "%.1f", waitNanos / 1e6), trained,
                            String.format(Locale.ROOT, "%.2f", trained == 0 ? 0.0 : waitNanos / 1e6 / trained),
                            config.data().prefetch() ? "on" : "off");
                    metrics.writeCurve();
                }
                if (!interrupted) {
                    adapter.save(out, modelDir.toString());
                }
                listener.finished();
                run.put("finished", Instant.now().toString())
                        .put("status", interrupted ? "interrupted" : "completed")
                        .put("steps", step)
                        .put("skipped_steps", scaler.skippedSteps())
                        .put("tokens", tokensSeen)
                        .put("final_loss", lastLoss);
                if (val != null && val.best() != null && val.best().step() > 0) {
                    run.putObject("best").put("step", val.best().step())
                            .put("eval_accuracy", val.best().accuracy())
                            .put("dir", out.resolve(BestAdapter.DIR).toString());
                }
                writeRunJson(out, run);
                return new Result(step, lastLoss, scaler.skippedSteps(), interrupted, out);
            }
        }
    }

    /** How a run of {@code samples} samples is cut into optimizer steps (the last step of an epoch may be short). */
    public record Plan(int samplesPerStep, int stepsPerEpoch, int totalSteps) {}

    public static Plan plan(TrainConfig.Train t, long samples) {
        int perStep = t.microBatchSize() * t.gradAccumSteps();
        int stepsPerEpoch = (int) ((samples + perStep - 1) / perStep);
        return new Plan(perStep, stepsPerEpoch, t.maxSteps() > 0 ? t.maxSteps() : stepsPerEpoch * t.epochs());
    }

    /** train.precision's compute dtype. */
    public static DataType computeType(String precision) {
        return switch (precision) {
            case "fp32" -> DataType.FLOAT32;
            case "fp16" -> DataType.FLOAT16;
            default -> throw new MedqaException(ExitCodes.DATA, "key train.precision: bf16 is not available: "
                    + "DJL 0.35.1 aborts the JVM on bfloat16 tensors; use fp16 (with loss scaling) or fp32");
        };
    }

    private static List<NDArray> params(LoraAdapter adapter) {
        List<NDArray> out = new ArrayList<>();
        adapter.params().forEach(p -> out.add(p.array()));
        return out;
    }

    /** The first eval_max_samples validation samples, in file order, batched once. */
    private List<MicroBatch> validationBatches(QwenTokenizer tokenizer) {
        TrainConfig.Data d = config.data();
        if (d.validation() == null || config.train().evalSteps() <= 0) {
            return null;
        }
        TrainConfig.Data evalData = new TrainConfig.Data(d.validation(), null, null, d.format(), d.copBase(),
                d.evalMaxSamples(), d.maxSeqLen(), d.overlong(), 1, d.onError(), d.evalMaxSamples(), false);
        TrainData data = new TrainData(d.validation(), "validation", evalData, tokenizer, 0);
        try (TrainData.Epoch e = data.epoch(0, 0)) {
            return e.take(Integer.MAX_VALUE, config.train().microBatchSize());
        }
    }

    /** The first eval_max_samples validation questions, for letter accuracy. */
    private List<McqSample> validationQuestions() {
        TrainConfig.Data d = config.data();
        McqReader.Source source = McqReader.resolve(d.validation(), d.format(), d.copBase(), d.onError().equals("skip"));
        List<McqSample> out = new ArrayList<>();
        try (McqReader.Samples s = McqReader.open(source)) {
            while (s.hasNext() && (d.evalMaxSamples() <= 0 || out.size() < d.evalMaxSamples())) {
                out.add(s.next());
            }
        }
        return out;
    }

    /** What an evaluation step needs: eval-loss batches, the questions scored for accuracy, best/ keeping. */
    private record Validation(List<MicroBatch> batches, List<McqSample> questions, LetterScorer scorer,
                              LoraAdapter adapter, BestAdapter best) {}

    /**
     * Eval loss (answer-token NLL, as in training, and as transformers' Trainer evaluates: under autocast
     * in fp16, no dropout) and letter accuracy (the option whose letter is most likely after "Answer: ",
     * as {@code medqa eval} scores) on the validation set.
     */
    private void evaluate(Qwen3Model model, Validation val, int step, Metrics metrics) {
        // The eval loss as the Trainer computes it, its forward under autocast in an fp16 run; the
        // accuracy as medqa eval (and lm-eval-harness) score it, without.
        double loss;
        val.adapter().setAutocast(true);
        try {
            loss = LossFunctions.meanAnswerNll(model, val.batches());
        } finally {
            val.adapter().setAutocast(false);
        }
        double accuracy = val.scorer().accuracy(val.questions(), config.train().microBatchSize());
        int tokens = val.batches().stream().mapToInt(MicroBatch::targetCount).sum();
        ObjectNode rec = metrics.record().put("step", step).put("eval_loss", loss).put("eval_accuracy", accuracy)
                .put("eval_tokens", tokens).put("eval_questions", val.questions().size());
        metrics.write(rec);
        listener.evaluated(step, loss);
        boolean best = val.best() != null && val.best().offer(step, accuracy, loss, val.adapter());
        LOG.info("step {}: eval_loss {}, eval_accuracy {} ({} questions){}", step,
                String.format(Locale.ROOT, "%.4f", loss), String.format(Locale.ROOT, "%.4f", accuracy),
                val.questions().size(), best ? "; best so far, saved to " + BestAdapter.DIR + "/" : "");
    }

    private Path saveCheckpoint(Path out, int step, int totalSteps, int epoch, long consumed, LossScaler scaler,
                                AdamW optimizer, LoraAdapter adapter, long tokensSeen, String configSha, Path modelDir) {
        TrainerState state = new TrainerState(step, totalSteps, epoch, consumed, config.train().seed(), scaler.scale(),
                scaler.cleanSteps(), scaler.skippedSteps(), optimizer.stepCount(), tokensSeen, configSha, runId);
        Path dir = Checkpoints.save(out, state, adapter, optimizer, modelDir.toString(), config.train().saveTotalLimit());
        LOG.info("saved {}", dir);
        return dir;
    }

    private static ObjectNode stepRecord(Metrics metrics, StepRecord r) {
        return metrics.record()
                .put("step", r.step())
                .put("epoch", r.epoch())
                .put("loss", r.loss())
                .put("lr", r.lr())
                .put("grad_norm", r.gradNorm())
                .put("loss_scale", r.lossScale())
                .put("skipped", r.skipped())
                .put("tokens", r.tokens())
                .put("tokens_per_s", r.tokensPerSecond())
                .put("elapsed_s", r.elapsedSeconds());
    }

    private ObjectNode startRunJson(Device device, DataType dtype, TrainData data, Path modelDir, String configSha,
                                    TrainData.Summary summary) {
        ObjectNode run = new ObjectMapper().createObjectNode();
        run.put("run_id", runId);
        run.put("medqa_version", Version.get());
        run.put("started", Instant.now().toString());
        run.put("status", "running");
        run.put("device", device.toString());
        run.put("dtype", dtype.toString());
        run.put("config_sha256", configSha);
        run.put("resumed_from", resumeFrom == null ? null : resumeFrom.toString());
        RunInfo.hashes(run.putObject("data_sha256"), data.source().files());
        ObjectNode base = run.putObject("base_model");
        base.put("path", modelDir.toString());
        List<Path> files = new ArrayList<>(Checkpoint.weightFiles(modelDir));
        files.add(modelDir.resolve("config.json"));
        files.add(modelDir.resolve("tokenizer.json"));
        RunInfo.hashes(base.putObject("sha256"), files);
        run.putObject("data_summary")
                .put("samples", summary.samples())
                .put("skipped_errors", summary.skippedErrors())
                .put("truncated", summary.truncated())
                .put("skipped_overlong", summary.skippedOverlong())
                .put("note", summary.note());
        run.set("config", resolvedTree);
        writeRunJson(Path.of(config.output().dir()), run);
        return run;
    }

    private static void writeRunJson(Path out, ObjectNode run) {
        AtomicFiles.writeString(out.resolve("run.json"), run.toPrettyString() + "\n");
    }
}
