package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SaveBestTest {

    @TempDir
    Path tmp;

    /**
     * An evaluation and a checkpoint after every step: best/ must hold the adapter of the step with
     * the highest eval_accuracy in metrics.jsonl (the earliest of equals), byte for byte that step's
     * checkpoint, with its step and accuracy in best.json.
     */
    @Test
    void keepsTheAdapterOfTheMostAccurateEvaluation() throws Exception {
        TinyRun run = new TinyRun(tmp, 96);
        Trainer.Result r = TrainLoopTest.train(run, null, Listeners.QUIET, new AtomicBoolean(),
                "train.max_steps=5", "train.eval_steps=1", "train.save_steps=1", "train.save_total_limit=20",
                "train.save_best=true", "train.lr=5e-2", "data.eval_max_samples=32");
        List<JsonNode> evals = TrainLoopTest.metrics(run.output).stream().filter(n -> n.has("eval_accuracy")).toList();
        assertEquals(5, evals.size());
        int bestStep = 0;
        double bestAcc = -1;
        for (JsonNode e : evals) {
            if (e.get("eval_accuracy").asDouble() > bestAcc) {
                bestAcc = e.get("eval_accuracy").asDouble();
                bestStep = e.get("step").asInt();
            }
        }
        System.out.println("accuracies: " + evals.stream().map(e -> e.get("eval_accuracy").asText()).toList());
        JsonNode info = new ObjectMapper().readTree(run.output.resolve(BestAdapter.DIR).resolve(BestAdapter.INFO).toFile());
        assertEquals(bestStep, info.get("step").asInt());
        assertEquals(bestAcc, info.get("eval_accuracy").asDouble());
        assertTrue(bestStep < r.steps(), "this run peaks before its last step, so keeping the last would fail: " + bestStep);

        Map<String, float[]> best = Checkpoints.readAll(run.output.resolve(BestAdapter.DIR).resolve(LoraAdapter.WEIGHTS_FILE));
        Map<String, float[]> atStep = Checkpoints.readAll(
                run.output.resolve("checkpoint-" + bestStep).resolve(LoraAdapter.WEIGHTS_FILE));
        assertEquals(atStep.keySet(), best.keySet());
        atStep.forEach((k, v) -> assertArrayEquals(v, best.get(k), 0f, k));
        assertTrue(run.output.resolve(BestAdapter.DIR).resolve("adapter_config.json").toFile().isFile());
        JsonNode runJson = new ObjectMapper().readTree(run.output.resolve("run.json").toFile());
        assertEquals(bestStep, runJson.get("best").get("step").asInt());
    }
}
