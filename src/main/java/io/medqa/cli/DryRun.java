package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.TrainData;
import io.medqa.model.Checkpoint;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Config;
import io.medqa.model.QwenTokenizer;
import io.medqa.train.Trainer;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code medqa train --dry-run}: everything a run checks before its first step (config, model folder,
 * tokenizer, every data line, device, precision), and what the run would be (samples, tokens, steps),
 * without loading the weights or writing anything.
 */
final class DryRun {

    private DryRun() {}

    static void print(TrainConfig cfg, PrintWriter out) {
        TrainConfig.Train t = cfg.train();
        Path modelDir = Path.of(cfg.model().path());
        Qwen3Config model = Qwen3Config.load(modelDir);
        List<Path> weights = Checkpoint.weightFiles(modelDir);
        long weightBytes = 0;
        for (Path w : weights) {
            if (!Files.isRegularFile(w)) {
                throw new MedqaException(ExitCodes.NO_INPUT, w + ": file not found");
            }
            weightBytes += w.toFile().length();
        }
        DataType dtype = Trainer.computeType(t.precision());
        Device device = Devices.resolve(cfg.device());

        out.println("# resolved config");
        out.print(ConfigLoader.toYaml(cfg));
        out.println();
        out.printf(Locale.ROOT, "model: %s: %d layers, hidden %d, vocab %d; %d weight file(s), %.1f MB (not loaded)%n",
                modelDir, model.numHiddenLayers(), model.hiddenSize(), model.vocabSize(), weights.size(), weightBytes / 1e6);
        out.printf(Locale.ROOT, "device: %s, precision %s (%s)%n", device, t.precision(), dtype);
        try (QwenTokenizer tokenizer = QwenTokenizer.load(modelDir)) {
            TrainData train = new TrainData(cfg.data().train(), cfg.data(), tokenizer, t.seed());
            TrainData.Summary s = train.summary();
            out.println("train: " + describe(cfg.data().train(), s, cfg.data().maxSeqLen()));
            if (cfg.data().validation() != null) {
                TrainConfig.Data d = cfg.data();
                TrainConfig.Data evalData = new TrainConfig.Data(d.validation(), null, null, d.format(), d.copBase(),
                        d.evalMaxSamples(), d.maxSeqLen(), d.overlong(), 1, d.onError(), d.evalMaxSamples(), false);
                TrainData validation = new TrainData(d.validation(), evalData, tokenizer, 0);
                out.println("validation: " + describe(d.validation(), validation.summary(), d.maxSeqLen()));
            }
            Trainer.Plan plan = Trainer.plan(t, s.samples());
            out.printf(Locale.ROOT, "steps: %d (%d per epoch of %d samples per step: micro-batch %d x accumulation %d; %s)%n",
                    plan.totalSteps(), plan.stepsPerEpoch(), plan.samplesPerStep(), t.microBatchSize(),
                    t.gradAccumSteps(), t.maxSteps() > 0 ? "train.max_steps " + t.maxSteps()
                            : t.epochs() + " epoch" + (t.epochs() == 1 ? "" : "s"));
        }
        out.println("dry run: the config, model folder and data are valid; nothing was trained or written");
        out.flush();
    }

    private static String describe(String file, TrainData.Summary s, int maxSeqLen) {
        return String.format(Locale.ROOT, "%s (%s): %,d samples, %,d tokens (%,d answer tokens, longest %d); %d truncated, "
                        + "%d skipped as longer than %d tokens, %d lines skipped as errors", file, s.note(), s.samples(),
                s.tokens(), s.answerTokens(), s.longest(), s.truncated(), s.skippedOverlong(), maxSeqLen,
                s.skippedErrors());
    }
}
