package io.medqa.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.AtomicFiles;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A suite run's table: per set the questions, accuracy and its 95% Wilson score interval, then the
 * macro average (the unweighted mean of the sets' accuracies, as the harness reports a group with
 * aggregate weight_by_size false). With a base run, the two side by side with the per-set difference
 * and the exact McNemar test on the questions' paired correctness, read from each run's
 * SET/predictions.jsonl. Written as RUN/summary.json and RUN/report.md.
 */
public final class SuiteReport {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One set's counts. */
    public record Row(String set, String format, String split, long questions, long correct) {
        public double accuracy() {
            return questions == 0 ? 0 : (double) correct / questions;
        }
    }

    /** One set in both runs: accuracies, discordant counts b (only base right) and c (only new right), p. */
    public record Paired(String set, long questions, double baseAccuracy, double accuracy, long b, long c, double p) {
        public double difference() {
            return accuracy - baseAccuracy;
        }
    }

    private final List<Row> rows;
    private final List<Paired> paired;
    private final String baseRun;

    public SuiteReport(List<Row> rows, List<Paired> paired, String baseRun) {
        this.rows = List.copyOf(rows);
        this.paired = paired == null ? null : List.copyOf(paired);
        this.baseRun = baseRun;
    }

    public double macroAccuracy() {
        return rows.stream().mapToDouble(Row::accuracy).average().orElse(0);
    }

    /** Pairs this run's sets with {@code base}'s, question by question in file order. */
    public static List<Paired> compare(Path run, List<Row> rows, Path base) {
        Map<String, JsonNode> baseSets = new LinkedHashMap<>();
        for (JsonNode s : readJson(base.resolve("summary.json")).path("sets")) {
            baseSets.put(s.path("set").asText(), s);
        }
        List<Paired> out = new ArrayList<>();
        for (Row r : rows) {
            if (!baseSets.containsKey(r.set())) {
                continue;
            }
            List<Outcome> mine = outcomes(run.resolve(r.set()).resolve("predictions.jsonl"));
            List<Outcome> theirs = outcomes(base.resolve(r.set()).resolve("predictions.jsonl"));
            if (mine.size() != theirs.size()) {
                throw new MedqaException(ExitCodes.DATA, base.resolve(r.set()) + ": " + theirs.size()
                        + " questions against " + mine.size() + " in this run; compare runs on the same data and --limit");
            }
            long b = 0;
            long c = 0;
            long baseRight = 0;
            for (int i = 0; i < mine.size(); i++) {
                if (!mine.get(i).gold().equals(theirs.get(i).gold())) {
                    throw new MedqaException(ExitCodes.DATA, base.resolve(r.set()).resolve("predictions.jsonl") + ":"
                            + (i + 1) + ": gold answer " + theirs.get(i).gold() + " differs from this run's "
                            + mine.get(i).gold() + "; compare runs on the same data");
                }
                boolean now = mine.get(i).correct();
                boolean then = theirs.get(i).correct();
                baseRight += then ? 1 : 0;
                b += then && !now ? 1 : 0;
                c += !then && now ? 1 : 0;
            }
            out.add(new Paired(r.set(), mine.size(), mine.isEmpty() ? 0 : (double) baseRight / mine.size(),
                    r.accuracy(), b, c, McNemar.exactP(b, c)));
        }
        return out;
    }

    private record Outcome(boolean correct, String gold) {}

    /** Per question its correctness and gold letter, in file order. */
    private static List<Outcome> outcomes(Path predictions) {
        List<Outcome> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(predictions, StandardCharsets.UTF_8)) {
            String line;
            long n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode q = JSON.readTree(line);
                if (q == null || !q.path("correct").isBoolean()) {
                    throw new MedqaException(ExitCodes.DATA, predictions + ":" + n + ": no boolean \"correct\"");
                }
                out.add(new Outcome(q.get("correct").asBoolean(), q.path("gold").asText()));
            }
        } catch (NoSuchFileException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, predictions + ": file not found (the per-question results "
                    + "of a suite run)");
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.DATA, predictions + ": cannot read: " + MedqaException.firstLine(e.getMessage()));
        }
        return out;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new MedqaException(Files.exists(file) ? ExitCodes.DATA : ExitCodes.NO_INPUT, file + ": "
                    + (Files.exists(file) ? "cannot read: " + MedqaException.firstLine(e.getMessage())
                    : "file not found (--compare wants the folder of an earlier suite run)"));
        }
    }

    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("suite", "multimedqa");
        n.put("interval", "Wilson score, 95%");
        ArrayNode sets = n.putArray("sets");
        for (Row r : rows) {
            double[] ci = EvalReport.wilson(r.correct(), r.questions());
            sets.addObject().put("set", r.set()).put("format", r.format()).put("split", r.split())
                    .put("questions", r.questions()).put("correct", r.correct()).put("accuracy", r.accuracy())
                    .set("accuracy_ci95", JSON.createArrayNode().add(ci[0]).add(ci[1]));
        }
        n.put("macro_accuracy", macroAccuracy());
        if (paired != null) {
            ObjectNode c = n.putObject("compare");
            c.put("base_run", baseRun);
            c.put("test", "exact McNemar, two-sided, alpha " + McNemar.ALPHA);
            ArrayNode ps = c.putArray("sets");
            for (Paired p : paired) {
                ps.addObject().put("set", p.set()).put("questions", p.questions()).put("base_accuracy", p.baseAccuracy())
                        .put("accuracy", p.accuracy()).put("difference", p.difference())
                        .put("only_base_right", p.b()).put("only_this_right", p.c()).put("p_value", p.p())
                        .put("significant", McNemar.significant(p.p()));
            }
            c.put("base_macro_accuracy", paired.stream().mapToDouble(Paired::baseAccuracy).average().orElse(0));
            c.put("macro_accuracy", paired.stream().mapToDouble(Paired::accuracy).average().orElse(0));
        }
        return n;
    }

    /** The plain table printed on the terminal. */
    public String text() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%-28s %9s %9s   %-17s%n", "set", "questions", "accuracy", "95% CI (Wilson)"));
        for (Row r : rows) {
            double[] ci = EvalReport.wilson(r.correct(), r.questions());
            b.append(String.format(Locale.ROOT, "%-28s %9d %9.4f   [%.4f, %.4f]%n", r.set(), r.questions(), r.accuracy(),
                    ci[0], ci[1]));
        }
        b.append(String.format(Locale.ROOT, "%-28s %9d %9.4f%n", "macro average", rows.stream().mapToLong(Row::questions).sum(),
                macroAccuracy()));
        if (paired != null) {
            b.append(String.format(Locale.ROOT, "%ncompared with %s (exact McNemar, two-sided, alpha %.2f):%n", baseRun, McNemar.ALPHA));
            b.append(String.format(Locale.ROOT, "%-28s %9s %9s %9s %8s %7s %7s %9s  %s%n", "set", "questions", "base", "this",
                    "diff", "b", "c", "p", "significant"));
            for (Paired p : paired) {
                b.append(String.format(Locale.ROOT, "%-28s %9d %9.4f %9.4f %+8.4f %7d %7d %9.4g  %s%n", p.set(), p.questions(),
                        p.baseAccuracy(), p.accuracy(), p.difference(), p.b(), p.c(), p.p(),
                        McNemar.significant(p.p()) ? "yes" : "no"));
            }
        }
        return b.toString();
    }

    /** The Markdown report: the same tables, with the run's context above them. */
    public String markdown(ObjectNode context) {
        StringBuilder b = new StringBuilder("# MultiMedQA (multiple choice)\n\n");
        context.fields().forEachRemaining(e -> {
            if (!e.getValue().isNull()) {
                b.append("- ").append(e.getKey()).append(": ").append(e.getValue().asText()).append('\n');
            }
        });
        b.append("\nlm-evaluation-harness prompts, zero-shot, log-likelihood of each choice (metric acc); "
                + "95% Wilson score intervals; macro average = unweighted mean over sets.\n\n");
        b.append("| set | split | questions | accuracy | 95% CI |\n|---|---|---:|---:|---|\n");
        for (Row r : rows) {
            double[] ci = EvalReport.wilson(r.correct(), r.questions());
            b.append(String.format(Locale.ROOT, "| %s | %s | %d | %.4f | [%.4f, %.4f] |%n", r.set(),
                    r.split() == null ? "-" : r.split(), r.questions(), r.accuracy(), ci[0], ci[1]));
        }
        b.append(String.format(Locale.ROOT, "| **macro average** | | %d | **%.4f** | |%n",
                rows.stream().mapToLong(Row::questions).sum(), macroAccuracy()));
        if (paired != null) {
            b.append("\n## Compared with ").append(baseRun).append("\n\n")
                    .append("b: questions only the base run answered right; c: only this run. Exact McNemar test, two-sided, "
                            + "significant when p < ").append(McNemar.ALPHA).append(".\n\n")
                    .append("| set | questions | base | this | difference | b | c | p | significant |\n")
                    .append("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
            for (Paired p : paired) {
                b.append(String.format(Locale.ROOT, "| %s | %d | %.4f | %.4f | %+.4f | %d | %d | %.4g | %s |%n", p.set(),
                        p.questions(), p.baseAccuracy(), p.accuracy(), p.difference(), p.b(), p.c(), p.p(),
                        McNemar.significant(p.p()) ? "yes" : "no"));
            }
        }
        return b.toString();
    }

    /** summary.json and report.md in {@code dir}, each written under a temporary name and renamed. */
    public ObjectNode write(Path dir, ObjectNode context) {
        ObjectNode summary = toJson();
        summary.put("medqa_version", io.medqa.Version.get());
        summary.setAll(context);
        AtomicFiles.writeString(dir.resolve("summary.json"), summary.toPrettyString() + "\n");
        AtomicFiles.writeString(dir.resolve("report.md"), markdown(context));
        return summary;
    }
}
