package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.AtomicFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * metrics.jsonl, one JSON object per optimizer step and per evaluation. Each line goes out in a single
 * write and is flushed, so a reader (or a killed run) sees whole lines only. The loss curve is drawn
 * from the same records as an SVG.
 */
public final class Metrics implements AutoCloseable {

    public static final String FILE = "metrics.jsonl";
    public static final String CURVE = "loss_curve.svg";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final OutputStream out;
    private final List<double[]> train = new ArrayList<>(); // (step, loss)
    private final List<double[]> eval = new ArrayList<>();  // (step, eval_loss)

    /**
     * Opens metrics.jsonl for appending, first keeping only the records up to {@code keepThrough}
     * (the resumed checkpoint's step; 0 starts afresh).
     */
    public Metrics(Path dir, int keepThrough) {
        this.file = dir.resolve(FILE);
        try {
            List<String> kept = new ArrayList<>();
            if (keepThrough > 0 && Files.exists(file)) {
                for (String line : Files.readAllLines(file)) {
                    JsonNode n = line.isBlank() ? null : parse(line);
                    if (n != null && n.path("step").asInt() <= keepThrough) {
                        kept.add(line);
                        remember(n);
                    }
                }
            }
            AtomicFiles.writeString(file, kept.isEmpty() ? "" : String.join("\n", kept) + "\n");
            this.out = Files.newOutputStream(file, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static JsonNode parse(String line) {
        try {
            return JSON.readTree(line);
        } catch (IOException e) {
            return null; // a torn last line from a killed run: dropped
        }
    }

    private void remember(JsonNode n) {
        if (n.has("loss") && n.get("loss").isNumber()) {
            train.add(new double[] {n.get("step").asDouble(), n.get("loss").asDouble()});
        }
        if (n.has("eval_loss")) {
            eval.add(new double[] {n.get("step").asDouble(), n.get("eval_loss").asDouble()});
        }
    }

    public ObjectNode record() {
        return JSON.createObjectNode();
    }

    public void write(ObjectNode record) {
        remember(record);
        try {
            out.write((record.toString() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Writes loss_curve.svg next to metrics.jsonl: training loss per step, evaluation loss as dots. */
    public void writeCurve() {
        AtomicFiles.writeString(file.resolveSibling(CURVE), svg(train, eval));
    }

    static String svg(List<double[]> train, List<double[]> eval) {
        int w = 720;
        int h = 400;
        int left = 60;
        int right = 20;
        int top = 30;
        int bottom = 45;
        double maxStep = 1;
        double minLoss = Double.MAX_VALUE;
        double maxLoss = -Double.MAX_VALUE;
        for (List<double[]> series : List.of(train, eval)) {
            for (double[] p : series) {
                if (!Double.isFinite(p[1])) {
                    continue;
                }
                maxStep = Math.max(maxStep, p[0]);
                minLoss = Math.min(minLoss, p[1]);
                maxLoss = Math.max(maxLoss, p[1]);
            }
        }
        if (minLoss > maxLoss) {
            minLoss = 0;
            maxLoss = 1;
        }
        if (maxLoss - minLoss < 1e-9) {
            maxLoss = minLoss + 1;
        }
        double lo = minLoss;
        double hi = maxLoss;
        double ms = maxStep;
        java.util.function.DoubleUnaryOperator x = s -> left + (w - left - right) * s / ms;
        java.util.function.DoubleUnaryOperator y = l -> top + (h - top - bottom) * (hi - l) / (hi - lo);
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"12\">%n", w, h));
        b.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"14\">medqa training loss</text>%n", left));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
                left, h - bottom, w - right, h - bottom));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
                left, top, left, h - bottom));
        for (int i = 0; i <= 4; i++) {
            double l = lo + (hi - lo) * i / 4;
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>%n",
                    left - 6, y.applyAsDouble(l) + 4, l));
            double s = ms * i / 4;
            b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>%n",
                    x.applyAsDouble(s), h - bottom + 16, Math.round(s)));
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">optimizer step</text>%n",
                (left + w - right) / 2, h - 8));
        StringBuilder points = new StringBuilder();
        for (double[] p : train) {
            if (Double.isFinite(p[1])) {
                points.append(String.format(Locale.ROOT, "%.1f,%.1f ", x.applyAsDouble(p[0]), y.applyAsDouble(p[1])));
            }
        }
        b.append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"")
                .append(points.toString().trim()).append("\"/>\n");
        for (double[] p : eval) {
            b.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d62728\"/>%n",
                    x.applyAsDouble(p[0]), y.applyAsDouble(p[1])));
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">train loss</text>%n", w - 160, top + 4));
        if (!eval.isEmpty()) {
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">eval loss</text>%n", w - 80, top + 4));
        }
        return b.append("</svg>\n").toString();
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // every line was flushed when written
        }
    }
}
