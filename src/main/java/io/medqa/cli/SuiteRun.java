package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.data.McqReader;
import io.medqa.eval.EvalReport;
import io.medqa.eval.Evaluator;
import io.medqa.eval.MultiMedQa;
import io.medqa.eval.SuiteReport;
import io.medqa.lora.LoadedModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code medqa eval --suite multimedqa}: each set under the data folder evaluated in turn with one
 * loaded model (loglik, lm-eval prompts), its predictions.jsonl and summary.json in OUT/SET, then the
 * suite's table in OUT/summary.json and OUT/report.md.
 */
final class SuiteRun {

    private final EvalCommand cmd;
    private final TrainConfig cfg;
    private final Path modelDir;
    private final Path adapterDir;

    SuiteRun(EvalCommand cmd, TrainConfig cfg, Path modelDir, Path adapterDir) {
        this.cmd = cmd;
        this.cfg = cfg;
        this.modelDir = modelDir;
        this.adapterDir = adapterDir;
    }

    int run() {
        if (!cmd.suite.equals("multimedqa")) {
            throw new MedqaException(ExitCodes.USAGE, "--suite must be multimedqa, got " + cmd.suite);
        }
        if (!cmd.mode.equals("loglik") || cmd.data != null) {
            throw new MedqaException(ExitCodes.USAGE, "--suite scores choices by log-likelihood on the sets under "
                    + "--data-dir; --mode generate and --data do not apply");
        }
        if (!Files.isDirectory(cmd.dataDir)) {
            throw new MedqaException(ExitCodes.NO_INPUT, cmd.dataDir + ": not a folder");
        }
        if (cmd.compare != null && !Files.isRegularFile(cmd.compare.resolve("summary.json"))) {
            throw new MedqaException(ExitCodes.NO_INPUT, cmd.compare.resolve("summary.json")
                    + ": file not found (--compare wants the folder of an earlier suite run)");
        }
        Path outDir = cmd.out != null ? cmd.out
                : cfg != null ? Path.of(cfg.output().dir()).resolve("eval-multimedqa") : Path.of("eval-multimedqa");
        List<String> skipped = new ArrayList<>();
        List<MultiMedQa.Set> sets = MultiMedQa.discover(cmd.dataDir, skipped);
        for (MultiMedQa.Set s : sets) {
            cmd.err().printf(Locale.ROOT, "%-28s %s split, %d file(s)%n", s.name(), s.split() == null ? "whole" : s.split(),
                    s.files().size());
        }
        if (!skipped.isEmpty()) {
            cmd.err().printf(Locale.ROOT, "not in the suite: %d file(s), e.g. %s%n", skipped.size(), skipped.get(0));
        }
        Evaluator.Options options = new Evaluator.Options(Evaluator.Mode.LOGLIK, Evaluator.PromptStyle.LM_EVAL,
                cmd.limit, Math.max(1, cmd.batchSize), cmd.maxNewTokens);
        Device device = cmd.compute.resolveDevice(cfg != null ? cfg.device() : "auto");
        DataType dtype = cmd.compute.resolveDtype(device);
        List<SuiteReport.Row> rows = new ArrayList<>();
        long t0 = System.nanoTime();
        try (LoadedModel loaded = LoadedModel.open(modelDir, adapterDir, device, dtype,
                cmd.compute.resolveAttention(cfg != null ? cfg.model().attention() : null))) {
            Evaluator evaluator = new Evaluator(loaded.model, loaded.tokenizer, options);
            for (MultiMedQa.Set set : sets) {
                McqReader.Source source = McqReader.resolve(set.files(), set.format().id(),
                        cmd.copBase != null ? cmd.copBase : "auto", false);
                long total = evaluator.count(source);
                ProgressBar bar = new ProgressBar(cmd.err(), set.name());
                bar.start(0, total);
                long start = System.nanoTime();
                EvalReport report = evaluator.run(source, outDir.resolve(set.name()), done -> bar.update(done, ""));
                bar.finish();
                ObjectNode context = context(device, dtype);
                context.put("set", set.name());
                context.put("data", set.files().toString());
                context.put("data_note", source.note());
                report.writeSummary(outDir.resolve(set.name()), context, (System.nanoTime() - start) / 1e9);
                rows.add(new SuiteReport.Row(set.name(), set.format().id(), set.split(), report.total(), report.correct()));
            }
        }
        List<SuiteReport.Paired> paired = cmd.compare == null ? null : SuiteReport.compare(outDir, rows, cmd.compare);
        SuiteReport suiteReport = new SuiteReport(rows, paired, cmd.compare == null ? null : cmd.compare.toString());
        ObjectNode context = context(device, dtype);
        context.put("data_dir", cmd.dataDir.toString());
        context.put("seconds", (System.nanoTime() - t0) / 1e9);
        suiteReport.write(outDir, context);
        cmd.out().print(suiteReport.text());
        cmd.out().printf(Locale.ROOT, "summary.json and report.md in %s; per-set predictions in %s/SET/%n", outDir, outDir);
        return ExitCodes.OK;
    }

    private ObjectNode context(Device device, DataType dtype) {
        ObjectNode context = EvalReport.context();
        context.put("model", modelDir.toString());
        context.put("adapter", adapterDir == null ? null : adapterDir.toString());
        context.put("prompt_style", "lm-eval");
        context.put("limit", cmd.limit);
        context.put("device", device.toString());
        context.put("dtype", dtype.toString());
        return context;
    }
}
