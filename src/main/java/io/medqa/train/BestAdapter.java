package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.AtomicFiles;
import io.medqa.lora.LoraAdapter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * best/: the adapter (PEFT format) of the evaluation with the highest validation accuracy so far, and
 * best.json with its step, accuracy and eval loss, as Hugging Face Trainer's load_best_model_at_end
 * with metric_for_best_model "accuracy" keeps. A later evaluation replaces it only when strictly
 * better, so of equal accuracies the earliest is kept (Trainer's greater-than too). The folder is
 * assembled under a temporary name and renamed, so best/ is always whole.
 */
public final class BestAdapter {

    public static final String DIR = "best";
    public static final String INFO = "best.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path runDir;
    private final String baseModel;
    private double accuracy = Double.NEGATIVE_INFINITY;
    private int step = -1;

    /**
     * @param resumedAt the step a resumed run continues from: a best/ kept at or before it carries
     *     over; one from a later step (trained again now) is forgotten. 0 starts afresh.
     */
    public BestAdapter(Path runDir, String baseModel, int resumedAt) {
        this.runDir = runDir;
        this.baseModel = baseModel;
        Path info = runDir.resolve(DIR).resolve(INFO);
        if (resumedAt > 0 && Files.isRegularFile(info)) {
            try {
                JsonNode n = JSON.readTree(info.toFile());
                if (n.path("step").asInt(Integer.MAX_VALUE) <= resumedAt) {
                    step = n.get("step").asInt();
                    accuracy = n.path("eval_accuracy").asDouble(Double.NEGATIVE_INFINITY);
                }
            } catch (IOException e) {
                throw new MedqaException(ExitCodes.DATA, info + ": " + MedqaException.firstLine(e.getMessage()));
            }
        }
    }

    /** Saves {@code adapter} as the best when {@code accuracy} beats every earlier one; says whether it did. */
    public boolean offer(int step, double accuracy, double evalLoss, LoraAdapter adapter) {
        if (!(accuracy > this.accuracy)) {
            return false;
        }
        Path target = runDir.resolve(DIR);
        Path temp = runDir.resolve("." + DIR + ".partial");
        try {
            Checkpoints.deleteTree(temp);
            Files.createDirectories(temp);
            adapter.save(temp, baseModel);
            AtomicFiles.writeString(temp.resolve(INFO), JSON.createObjectNode()
                    .put("step", step).put("eval_accuracy", accuracy).put("eval_loss", evalLoss)
                    .put("metric", "eval_accuracy").toPrettyString() + "\n");
            Checkpoints.deleteTree(target);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, target + ": cannot write the best adapter: " + e.getMessage(), e);
        }
        this.accuracy = accuracy;
        this.step = step;
        return true;
    }

    public int step() {
        return step;
    }

    public double accuracy() {
        return accuracy;
    }
}
