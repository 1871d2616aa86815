package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.data.SyntheticMcq;
import io.medqa.eval.EvalReport;
import io.medqa.eval.Evaluator;
import io.medqa.lora.LoadedModel;
import io.medqa.model.Attention;
import io.medqa.model.Devices;
import io.medqa.model.Generator;
import io.medqa.model.Sampling;
import io.medqa.model.TinyQwen3;
import io.medqa.train.RunFolder;
import io.medqa.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/** {@code medqa demo}: the whole product on a small random model and invented data, offline, on a CPU. */
@Command(name = "demo",
        description = "Run the whole pipeline with nothing downloaded: write a small random Qwen3-architecture model "
                + "and a synthetic multiple-choice dataset, train a LoRA adapter with configs/demo.yaml, evaluate "
                + "base and adapter on held-out questions, and answer one question. About a minute on 2 CPU cores.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa demo",
            "  medqa demo --dir /tmp/medqa-demo"
        })
final class DemoCommand extends BaseCommand {

    /** Room for the task: 2 layers, hidden 64, GQA; embeddings at std 0.1 so LoRA can steer the output. */
    static final TinyQwen3.Spec SPEC = new TinyQwen3.Spec(300, 64, 128, 2, 4, 2, 16, true, 10000.0, 5, 0.1);

    @Option(names = "--dir", paramLabel = "DIR", defaultValue = "demo",
            description = "Where the model, data and run go (default: ${DEFAULT-VALUE}).")
    Path dir;

    @Option(names = "--config", paramLabel = "FILE", description = "Demo config (default: configs/demo.yaml "
            + "of this medqa installation).")
    Path config;

    @Option(names = "--device", paramLabel = "auto|cpu|gpu|gpu:N",
            description = "Where to compute (default: the demo config's device, cpu).")
    String device;

    @Override
    int run() throws Exception {
        long t0 = System.nanoTime();
        Path configFile = config != null ? config
                : Path.of(System.getProperty("medqa.home", ".")).resolve("configs/demo.yaml");
        if (!Files.isRegularFile(configFile)) {
            throw new MedqaException(ExitCodes.NO_INPUT, configFile + ": file not found (give --config)");
        }
        Path model = dir.resolve("model");
        Path data = dir.resolve("data");
        Path run = dir.resolve("run");
        err().println("1/4 writing a random " + SPEC.layers() + "-layer Qwen3 model (hidden " + SPEC.hidden()
                + ", byte-level tokenizer) to " + model + " and a synthetic dataset to " + data);
        try {
            TinyQwen3.write(model, SPEC, "F32", 1);
            Files.createDirectories(data);
        } catch (java.io.IOException e) {
            throw new MedqaException(ExitCodes.IO, dir + ": cannot write the demo's model and data: "
                    + (e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getFile() + ": "
                    + f.getReason() : e.toString()), e);
        }
        SyntheticMcq.write(data.resolve("train.jsonl"), 1920, 1);
        SyntheticMcq.write(data.resolve("validation.jsonl"), 64, 2);
        SyntheticMcq.write(data.resolve("test.jsonl"), 200, 3);

        List<String> overrides = new java.util.ArrayList<>(List.of("model.path=" + model, "data.train=" + data.resolve("train.jsonl"),
                "data.validation=" + data.resolve("validation.jsonl"), "data.test=" + data.resolve("test.jsonl"),
                "output.dir=" + run));
        if (device != null) {
            overrides.add("device=" + device);
        }
        ObjectNode tree = ConfigLoader.resolveTree(configFile, overrides);
        TrainConfig cfg = ConfigLoader.bind(tree, configFile.toString(), overrides);
        err().println("2/4 training a LoRA adapter with " + configFile + " (the code path of medqa train)");
        RunFolder runFolder = RunFolder.fresh(run, true); // the demo's own folder: each demo replaces the last
        LogSetup.fileLog(run.resolve("train.log"));
        Trainer.Result result;
        try {
            result = new Trainer(cfg, tree, null, new TrainProgress(err()), new AtomicBoolean()).run();
        } finally {
            LogSetup.closeFileLog();
            runFolder.discardOverwritten();
        }

        err().println("3/4 evaluating base and adapter on " + cfg.data().test());
        Device device = Devices.resolve(cfg.device());
        McqReader.Source test = McqReader.resolve(cfg.data().test(), "test", cfg.data().format(), cfg.data().copBase(), false);
        Evaluator.Options options = new Evaluator.Options(Evaluator.Mode.LOGLIK, Evaluator.PromptStyle.CHAT, 0, 16, 0);
        Attention attention = Attention.parse(cfg.model().attention());
        EvalReport before;
        EvalReport after;
        try (LoadedModel base = LoadedModel.open(model, null, device, DataType.FLOAT32, attention)) {
            long e0 = System.nanoTime();
            before = new Evaluator(base.model, base.tokenizer, options).run(test, run.resolve("eval-test-base"), done -> { });
            before.writeSummary(run.resolve("eval-test-base"), evalContext(model, null, cfg), (System.nanoTime() - e0) / 1e9);
        }
        McqSample question = McqReader.readAll(test).get(0);
        try (LoadedModel tuned = LoadedModel.open(model, run, device, DataType.FLOAT32, attention)) {
            long e0 = System.nanoTime();
            after = new Evaluator(tuned.model, tuned.tokenizer, options).run(test, run.resolve("eval-test"), done -> { });
            after.writeSummary(run.resolve("eval-test"), evalContext(model, run, cfg), (System.nanoTime() - e0) / 1e9);
            out().printf(Locale.ROOT, "held-out accuracy: base %.3f (%d/%d) -> with adapter %.3f (%d/%d); chance is 0.25%n",
                    before.accuracy(), before.correct(), before.total(), after.accuracy(), after.correct(), after.total());

            err().println("4/4 asking the tuned model one held-out question");
            out().println();
            out().println(PromptFormat.userMessage(question).substring(PromptFormat.userMessage(question).indexOf("Question:")));
            TextStream stream = new TextStream(tuned.tokenizer, out());
            new Generator(tuned.model, tuned.tokenizer.stopIds(tuned.model.config()))
                    .generate(tuned.tokenizer.encode(PromptFormat.prompt(question)), 64, Sampling.GREEDY, stream::accept);
            out().println();
            out().println("(gold answer: " + question.answerLetter() + ")");
        }
        out().println();
        out().printf(Locale.ROOT, "done in %.0f s. Outputs:%n", (System.nanoTime() - t0) / 1e9);
        out().println("  model and tokenizer       " + model);
        out().println("  data (train/validation/test) " + data);
        out().println("  adapter (PEFT format)     " + run.resolve("adapter_model.safetensors") + ", adapter_config.json");
        out().println("  metrics and loss curve    " + run.resolve("metrics.jsonl") + ", loss_curve.png");
        out().println("  provenance and config     " + run.resolve("run.json") + ", config.yaml, train.log");
        out().println("  evaluations               " + run.resolve("eval-test-base") + ", " + run.resolve("eval-test"));
        out().println("  checkpoint                " + run.resolve("checkpoint-240"));
        // The config alone points at the default demo folder: name this run's folders so the command
        // evaluates what was just trained, wherever --dir put it.
        String eval = "medqa eval --config " + RunFolder.shellQuote(configFile.toString())
                + " --set " + RunFolder.shellQuote("model.path=" + model)
                + " --set " + RunFolder.shellQuote("data.test=" + data.resolve("test.jsonl"))
                + " --set " + RunFolder.shellQuote("output.dir=" + run) + " --split test";
        out().println("Next: " + eval + "; " + askSuggestion(model, run,
                McqReader.readAll(test).get(1)));
        out().flush();
        return result.interrupted() ? ExitCodes.INTERRUPTED : ExitCodes.OK;
    }

    /** An ask command for a held-out question, its options as the data has them (the right one among them). */
    static String askSuggestion(Path model, Path run, McqSample s) {
        StringBuilder cmd = new StringBuilder("medqa ask --model " + model + " --adapter " + run + " \"" + s.question() + "\"");
        for (int i = 0; i < s.options().size(); i++) {
            cmd.append(" --option ").append(McqSample.LETTERS.charAt(i)).append("=\"").append(s.options().get(i)).append('"');
        }
        return cmd.toString();
    }

    private static ObjectNode evalContext(Path model, Path adapter, TrainConfig cfg) {
        ObjectNode c = EvalReport.context();
        c.put("model", model.toString());
        c.put("adapter", adapter == null ? null : adapter.toString());
        c.put("data", cfg.data().test());
        c.put("mode", "loglik");
        c.put("prompt_style", "chat");
        return c;
    }
}
