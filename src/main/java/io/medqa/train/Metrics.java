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
import java.util.Map;
import java.util.TreeMap;

/**
 * metrics.jsonl, one JSON object per optimizer step and per evaluation. Each line goes out in a single
 * write and is flushed, so a reader (or a killed run) sees whole lines only. The same records feed the
 * loss curve (loss_curve.png) and, when enabled, TensorBoard event files.
 */
public final class Metrics implements AutoCloseable {

    public static final String FILE = "metrics.jsonl";
    public static final String CURVE = "loss_curve.png";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final OutputStream out;
    private final List<JsonNode> records = new ArrayList<>();
    private final TensorBoardWriter tensorBoard;

    /**
     * Opens metrics.jsonl for appending, first keeping only the records up to {@code keepThrough}
     * (the resumed checkpoint's step; 0 starts afresh). With {@code tensorBoard}, every record is also
     * written to an event file in {@code dir/tensorboard}.
     */
    public Metrics(Path dir, int keepThrough, boolean tensorBoard) {
        this.file = dir.resolve(FILE);
        try {
            List<String> kept = new ArrayList<>();
            if (keepThrough > 0 && Files.exists(file)) {
                for (String line : Files.readAllLines(file)) {
                    JsonNode n = line.isBlank() ? null : parse(line);
                    if (n != null && n.path("step").asInt() <= keepThrough) {
                        kept.add(line);
                        records.add(n);
                    }
                }
            }
            AtomicFiles.writeString(file, kept.isEmpty() ? "" : String.join("\n", kept) + "\n");
            this.out = Files.newOutputStream(file, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
        this.tensorBoard = tensorBoard ? new TensorBoardWriter(dir.resolve(TensorBoardWriter.DIR),
                keepThrough > 0 ? keepThrough + 1 : 0) : null;
    }

    private static JsonNode parse(String line) {
        try {
            return JSON.readTree(line);
        } catch (IOException e) {
            return null; // a torn last line from a killed run: dropped
        }
    }

    public ObjectNode record() {
        return JSON.createObjectNode();
    }

    public void write(ObjectNode record) {
        records.add(record);
        if (tensorBoard != null) {
            toTensorBoard(record);
        }
        try {
            out.write((record.toString() + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Writes loss_curve.png next to metrics.jsonl (see {@link LossChart}), replacing it atomically. */
    public void writeCurve() {
        LossChart.write(records, "medqa training: " + file.toAbsolutePath().getParent().getFileName(),
                file.resolveSibling(CURVE));
    }

    /** The TensorBoard tag of each metrics.jsonl key that goes to the event files (Hugging Face Trainer's names). */
    static final Map<String, String> TAGS = Map.of(
            "loss", "train/loss",
            "lr", "train/learning_rate",
            "grad_norm", "train/grad_norm",
            "tokens_per_s", "train/tokens_per_second",
            "eval_loss", "eval/loss",
            "eval_accuracy", "eval/accuracy");

    private void toTensorBoard(JsonNode record) {
        Map<String, Double> values = new TreeMap<>();
        TAGS.forEach((key, tag) -> {
            JsonNode v = record.get(key);
            if (v != null && v.isNumber() && Double.isFinite(v.asDouble())) {
                values.put(tag, v.asDouble());
            }
        });
        if (!values.isEmpty()) {
            tensorBoard.scalars(record.path("step").asLong(), values);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // every line was flushed when written
        }
        if (tensorBoard != null) {
            tensorBoard.close();
        }
    }
}
