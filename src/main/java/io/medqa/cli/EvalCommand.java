package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.McqReader;
import io.medqa.eval.EvalReport;
import io.medqa.eval.Evaluator;
import io.medqa.lora.LoadedModel;
import io.medqa.lora.LoraAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** {@code medqa eval}: accuracy on a multiple-choice split or on the MultiMedQA suite, base model or adapter. */
@Command(name = "eval",
        description = "Evaluate a model (with its adapter) on multiple-choice questions: accuracy with a 95%% Wilson "
                + "interval, per subject, the letter confusion table; writes predictions.jsonl and summary.json. "
                + "With --suite multimedqa: every set found under --data-dir with its lm-evaluation-harness prompt, "
                + "one table with the macro average (summary.json, report.md), optionally against --compare BASE_RUN "
                + "with an exact McNemar test per set.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa eval --config configs/qwen3-lora.yaml --split test            # the adapter in output.dir",
            "  medqa eval --config configs/qwen3-lora.yaml --split validation --base-only --limit 500",
            "  medqa eval --data data/medqa/test.jsonl --model ./Qwen3-1.7B --prompt-style lm-eval",
            "  medqa eval --config configs/qwen3-lora.yaml --split test --mode generate --max-new-tokens 64",
            "  medqa eval --data data/medmcqa --split validation --model ./Qwen3-1.7B     # a downloaded parquet folder",
            "  medqa eval --suite multimedqa --data-dir data --model ./Qwen3-1.7B --base-only --out runs/base",
            "  medqa eval --suite multimedqa --data-dir data --config configs/qwen3-lora.yaml --compare runs/base"
        })
final class EvalCommand extends BaseCommand {

    private static final Logger LOG = LoggerFactory.getLogger(EvalCommand.class);

    @Option(names = "--config", paramLabel = "FILE", description = "Training config: model, data splits, output.dir, and the device "
            + "unless --device is given.")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key. Repeatable.")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--split", paramLabel = "train|validation|test", defaultValue = "test",
            description = "With --config: which data.* file to evaluate (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--data", paramLabel = "FILE", description = "A JSONL or parquet file, a glob, or a dataset folder "
            + "(its --split files) to evaluate instead of the config's split.")
    String data;

    @Option(names = "--suite", paramLabel = "multimedqa", description = "Evaluate a benchmark suite: multimedqa "
            + "(PubMedQA, MedMCQA, MedQA, six MMLU medical subjects), each set found under --data-dir.")
    String suite;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "With --suite: the folder holding the sets "
            + "(any depth; parquet as the Hub serves it, or JSONL).")
    Path dataDir;

    @Option(names = "--compare", paramLabel = "BASE_RUN", description = "With --suite: an earlier suite run's folder, "
            + "shown side by side with per-set differences and exact McNemar p-values.")
    Path compare;

    @Option(names = "--model", paramLabel = "DIR", description = "Base model folder (default: the config's model.path).")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "LoRA adapter folder (default with --config: output.dir when it holds an adapter).")
    Path adapter;

    @Option(names = "--base-only", description = "Evaluate the base model without any adapter.")
    boolean baseOnly;

    @Option(names = "--mode", paramLabel = "loglik|generate", defaultValue = "loglik",
            description = "loglik (default): score each option by the log-probability of its letter; "
                    + "generate: let the model answer and read the letter.")
    String mode;

    @Option(names = "--prompt-style", paramLabel = "chat|lm-eval", defaultValue = "chat",
            description = "chat (default): the training prompt; lm-eval: the lm-evaluation-harness prompts.")
    String promptStyle;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "0", description = "Evaluate the first N questions only.")
    long limit;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "8", description = "Questions per forward pass "
            + "in loglik mode (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "128",
            description = "Generate mode: most tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--format", paramLabel = "FORMAT", description = "With --data: the file layout, auto, medmcqa, "
            + "medqa, medqa-hf, pubmedqa or mmlu (default: the config's data.format, else auto).")
    String format;

    @Option(names = "--cop-base", paramLabel = "auto|0|1", description = "With --data: MedMCQA's cop base "
            + "(default: the config's data.cop_base, else auto).")
    String copBase;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Where predictions.jsonl and summary.json go (default with --config: a folder in output.dir "
                    + "named by what is evaluated, eval-SPLIT[-base][-generate][-lmeval][-limitN]; without --config: "
                    + "nothing is written unless --out is given).")
    Path out;

    @Mixin
    ComputeOptions compute;

    @Override
    int run() throws Exception {
        if (suite != null && (dataDir == null || config == null && model == null)) {
            throw new MedqaException(ExitCodes.USAGE, "--suite needs --data-dir DIR and --model DIR (or --config FILE)");
        }
        if (suite == null && (dataDir != null || compare != null)) {
            throw new MedqaException(ExitCodes.USAGE, "--data-dir and --compare go with --suite multimedqa");
        }
        if (suite == null && config == null && (data == null || model == null)) {
            throw new MedqaException(ExitCodes.USAGE, "give --config FILE --split SPLIT, or --data FILE --model DIR");
        }
        if (baseOnly && adapter != null) {
            throw new MedqaException(ExitCodes.USAGE, "--base-only and --adapter exclude each other");
        }
        TrainConfig cfg = config == null ? null : ConfigLoader.load(config, overrides);
        Path modelDir = model != null ? model : Path.of(cfg.model().path());
        Path adapterDir = baseOnly ? null : adapter;
        if (adapterDir == null && !baseOnly && cfg != null
                && Files.isRegularFile(Path.of(cfg.output().dir()).resolve(LoraAdapter.WEIGHTS_FILE))) {
            adapterDir = Path.of(cfg.output().dir());
        }
        if (suite != null) {
            return new SuiteRun(this, cfg, modelDir, adapterDir).run();
        }
        String dataSpec = data != null ? data : splitFile(cfg);
        Path outDir = outputFolder(cfg, dataSpec, adapterDir);
        Evaluator.Options options = new Evaluator.Options(
                switch (mode) {
                    case "loglik" -> Evaluator.Mode.LOGLIK;
                    case "generate" -> Evaluator.Mode.GENERATE;
                    default -> throw new MedqaException(ExitCodes.USAGE, "--mode must be loglik or generate, got " + mode);
                },
                switch (promptStyle) {
                    case "chat" -> Evaluator.PromptStyle.CHAT;
                    case "lm-eval" -> Evaluator.PromptStyle.LM_EVAL;
                    default -> throw new MedqaException(ExitCodes.USAGE, "--prompt-style must be chat or lm-eval, got "
                            + promptStyle);
                },
                limit, Math.max(1, batchSize), maxNewTokens);

        String fmt = format != null ? format : cfg != null ? cfg.data().format() : "auto";
        String base = copBase != null ? copBase : cfg != null ? cfg.data().copBase() : "auto";
        McqReader.Source source = McqReader.resolve(dataSpec, split, fmt, base, false);
        Device device = compute.resolveDevice(cfg != null ? cfg.device() : "auto");
        DataType dtype = compute.resolveDtype(device);
        try (LoadedModel loaded = LoadedModel.open(modelDir, adapterDir, device, dtype,
                compute.resolveAttention(cfg != null ? cfg.model().attention() : null))) {
            Evaluator evaluator = new Evaluator(loaded.model, loaded.tokenizer, options);
            long total = evaluator.count(source);
            err().printf(Locale.ROOT, "evaluating %s on %d questions from %s (%s), %s, %s prompts%n",
                    adapterDir == null ? modelDir + " (base)" : modelDir + " + adapter " + adapterDir, total, dataSpec,
                    source.note(), mode, promptStyle);
            ProgressBar bar = new ProgressBar(err(), "question");
            bar.start(0, total);
            long t0 = System.nanoTime();
            EvalReport report = evaluator.run(source, outDir, done -> bar.update(done, String.format(Locale.ROOT,
                    "%.1f q/s", done / Math.max(1e-9, (System.nanoTime() - t0) / 1e9))));
            bar.finish();
            double seconds = (System.nanoTime() - t0) / 1e9;
            ObjectNode context = EvalReport.context();
            context.put("model", modelDir.toString());
            context.put("adapter", adapterDir == null ? null : adapterDir.toString());
            context.put("data", dataSpec);
            context.put("data_note", source.note());
            context.put("mode", mode);
            context.put("prompt_style", promptStyle);
            context.put("limit", limit);
            context.put("device", device.toString());
            context.put("dtype", dtype.toString());
            out().print(report.text());
            if (outDir != null) {
                ObjectNode summary = report.writeSummary(outDir, context, seconds);
                out().printf(Locale.ROOT, "%.2f questions/s; predictions.jsonl and summary.json in %s%n",
                        report.total() / Math.max(seconds, 1e-9), outDir);
                LOG.info("eval summary: {}", summary);
            } else {
                out().printf(Locale.ROOT, "%.2f questions/s; nothing written (give --out DIR to keep predictions.jsonl "
                        + "and summary.json)%n", report.total() / Math.max(seconds, 1e-9));
            }
        }
        return ExitCodes.OK;
    }

    /**
     * Where the results go: --out; else, with a config, OUTPUT_DIR/NAME where NAME says what was evaluated
     * (see {@link #folderName}), so a base-only, limited or generate run never replaces the adapter's full
     * evaluation; else (--data --model alone) nowhere, as lm-evaluation-harness writes nothing without
     * --output_path.
     */
    private Path outputFolder(TrainConfig cfg, String dataSpec, Path adapterDir) {
        if (out != null) {
            return out;
        }
        if (cfg == null) {
            return null;
        }
        String what = data == null ? split
                : Path.of(dataSpec.replace("*", "all")).getFileName().toString().replaceFirst("\\.(jsonl|parquet)$", "");
        Path runDir = Path.of(cfg.output().dir());
        String adapterName = adapterDir == null ? null
                : adapterDir.toAbsolutePath().normalize().equals(runDir.toAbsolutePath().normalize()) ? ""
                : adapterDir.toAbsolutePath().normalize().getFileName().toString();
        return runDir.resolve(folderName(what, adapterName, mode, promptStyle, limit));
    }

    /**
     * eval-WHAT[-base|-adapter-NAME][-generate][-lmeval][-limitN]: WHAT is the split (or the --data file's
     * name); -base when no adapter was applied, -adapter-NAME for an adapter other than the run's own
     * ({@code adapterName} null: none; empty: the run's); then each non-default setting.
     */
    static String folderName(String what, String adapterName, String mode, String promptStyle, long limit) {
        StringBuilder name = new StringBuilder("eval-").append(what);
        if (adapterName == null) {
            name.append("-base");
        } else if (!adapterName.isEmpty()) {
            name.append("-adapter-").append(adapterName);
        }
        if (mode.equals("generate")) {
            name.append("-generate");
        }
        if (promptStyle.equals("lm-eval")) {
            name.append("-lmeval");
        }
        if (limit > 0) {
            name.append("-limit").append(limit);
        }
        return name.toString();
    }

    private String splitFile(TrainConfig cfg) {
        String file = switch (split) {
            case "train" -> cfg.data().train();
            case "validation" -> cfg.data().validation();
            case "test" -> cfg.data().test();
            default -> throw new MedqaException(ExitCodes.USAGE, "--split must be train, validation or test, got " + split);
        };
        if (file == null) {
            throw new MedqaException(ExitCodes.USAGE, config + ": data." + split + " is not set (or use --data FILE)");
        }
        return file;
    }
}
