package io.medqa.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.data.McqSample;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Counts of an evaluation: accuracy with its Wilson interval, per subject, and the confusion table. */
public final class EvalReport {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LETTERS = McqSample.LETTERS;

    private long total;
    private long correct;
    private long unparsed;
    private final Map<String, long[]> bySubject = new TreeMap<>(); // subject -> {correct, total}
    private final long[][] confusion = new long[LETTERS.length()][LETTERS.length() + 1]; // [gold][pred or none]

    /** @param predicted option index, or -1 when no letter could be read */
    public void add(McqSample s, int predicted) {
        total++;
        boolean right = predicted == s.answer();
        if (right) {
            correct++;
        }
        if (predicted < 0) {
            unparsed++;
        }
        long[] sub = bySubject.computeIfAbsent(s.subject() == null ? "(none)" : s.subject(), k -> new long[2]);
        sub[0] += right ? 1 : 0;
        sub[1]++;
        confusion[s.answer()][predicted < 0 ? LETTERS.length() : predicted]++;
    }

    public long total() {
        return total;
    }

    public long correct() {
        return correct;
    }

    public double accuracy() {
        return total == 0 ? 0 : (double) correct / total;
    }

    /** Wilson score interval (95%, z = 1.96): sensible at accuracies near 0 or 1, unlike p +- 1.96 se. */
    public static double[] wilson(long k, long n) {
        if (n == 0) {
            return new double[] {0, 1};
        }
        double z = 1.959963984540054;
        double p = (double) k / n;
        double denom = 1 + z * z / n;
        double center = (p + z * z / (2.0 * n)) / denom;
        double half = z * Math.sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / denom;
        return new double[] {Math.max(0, center - half), Math.min(1, center + half)};
    }

    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("questions", total);
        n.put("correct", correct);
        n.put("accuracy", accuracy());
        double[] ci = wilson(correct, total);
        n.putArray("accuracy_ci95").add(ci[0]).add(ci[1]);
        n.put("unparsed", unparsed);
        ObjectNode subjects = n.putObject("by_subject");
        bySubject.forEach((k, v) -> subjects.putObject(k).put("correct", v[0]).put("questions", v[1])
                .put("accuracy", (double) v[0] / v[1]));
        ObjectNode conf = n.putObject("confusion");
        for (int g = 0; g < LETTERS.length(); g++) {
            long rowTotal = 0;
            for (long c : confusion[g]) {
                rowTotal += c;
            }
            if (rowTotal == 0) {
                continue;
            }
            ObjectNode row = conf.putObject(String.valueOf(LETTERS.charAt(g)));
            for (int p = 0; p <= LETTERS.length(); p++) {
                if (confusion[g][p] > 0) {
                    row.put(p == LETTERS.length() ? "none" : String.valueOf(LETTERS.charAt(p)), confusion[g][p]);
                }
            }
        }
        return n;
    }

    /** The human-readable summary: accuracy, per subject, the confusion table (rows gold, columns predicted). */
    public String text() {
        StringBuilder b = new StringBuilder();
        double[] ci = wilson(correct, total);
        b.append(String.format(Locale.ROOT, "accuracy %.4f (%d/%d), 95%% CI [%.4f, %.4f]%s%n", accuracy(), correct,
                total, ci[0], ci[1], unparsed > 0 ? ", " + unparsed + " answers without a readable letter" : ""));
        if (bySubject.size() > 1) {
            b.append("by subject:\n");
            bySubject.forEach((k, v) -> b.append(String.format(Locale.ROOT, "  %-32s %.4f (%d/%d)%n", k,
                    (double) v[0] / v[1], v[0], v[1])));
        }
        b.append("confusion (rows: gold, columns: predicted):\n      ");
        int used = usedLetters();
        for (int p = 0; p < used; p++) {
            b.append(String.format("%6s", LETTERS.charAt(p)));
        }
        b.append(String.format("%6s%n", "none"));
        for (int g = 0; g < used; g++) {
            b.append(String.format("%6s", LETTERS.charAt(g)));
            for (int p = 0; p < used; p++) {
                b.append(String.format("%6d", confusion[g][p]));
            }
            b.append(String.format("%6d%n", confusion[g][LETTERS.length()]));
        }
        return b.toString();
    }

    private int usedLetters() {
        int used = 2;
        for (int g = 0; g < LETTERS.length(); g++) {
            for (int p = 0; p <= LETTERS.length(); p++) {
                if (confusion[g][p] > 0) {
                    used = Math.max(used, Math.max(g + 1, p < LETTERS.length() ? p + 1 : 0));
                }
            }
        }
        return used;
    }

    /**
     * Writes summary.json (atomically): the counts of {@link #toJson()} plus the run's context (model,
     * adapter, data, mode, timing...), with questions per second from {@code seconds}.
     */
    public ObjectNode writeSummary(java.nio.file.Path outDir, ObjectNode context, double seconds) {
        ObjectNode summary = toJson();
        summary.put("medqa_version", io.medqa.Version.get());
        summary.setAll(context);
        summary.put("seconds", seconds);
        summary.put("questions_per_second", total / Math.max(seconds, 1e-9));
        io.medqa.io.AtomicFiles.writeString(outDir.resolve("summary.json"), summary.toPrettyString() + "\n");
        return summary;
    }

    public static ObjectNode context() {
        return JSON.createObjectNode();
    }

    static ArrayNode doubles(double[] values) {
        ArrayNode a = JSON.createArrayNode();
        for (double v : values) {
            a.add(v);
        }
        return a;
    }
}
