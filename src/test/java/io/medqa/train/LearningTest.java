package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.cli.Main;
import io.medqa.config.ConfigLoader;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A tiny random model learns the synthetic task: held-out accuracy, measured by `medqa eval`, goes from
 * chance (0.25) to at least 0.9.
 */
class LearningTest {

    @TempDir
    Path tmp;

    @Test
    void tinyModelLearnsTheSyntheticTaskAndEvalShowsIt() throws Exception {
        TinyRun run = new TinyRun(tmp, 1920);
        String targets = "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]";
        var tree = run.tree("train.epochs=2", targets);
        long t0 = System.nanoTime();
        Trainer.Result result = new Trainer(ConfigLoader.bind(tree, "test"), tree, null, Listeners.QUIET,
                new AtomicBoolean()).run();
        double seconds = (System.nanoTime() - t0) / 1e9;

        JsonNode base = eval(run, "eval-test-base", "--base-only", targets);
        JsonNode tuned = eval(run, "eval-test", targets);
        double before = base.get("accuracy").asDouble();
        double after = tuned.get("accuracy").asDouble();
        System.out.printf("learning: %d steps in %.1f s, final loss %.4f, held-out accuracy %.3f -> %.3f%n",
                result.steps(), seconds, result.finalLoss(), before, after);
        assertTrue(after >= 0.9, "held-out accuracy after training " + after + " (before " + before + ")");
        assertTrue(before < 0.5, "the random base should be near chance, got " + before);

        for (JsonNode summary : List.of(base, tuned)) {
            long n = summary.get("questions").asLong();
            assertEquals(200, n);
            long bySubject = 0;
            for (JsonNode s : summary.get("by_subject")) {
                bySubject += s.get("questions").asLong();
            }
            assertEquals(n, bySubject);
            long confusion = 0;
            long diagonal = 0;
            for (Iterator<String> it = summary.get("confusion").fieldNames(); it.hasNext(); ) {
                String gold = it.next();
                for (Iterator<java.util.Map.Entry<String, JsonNode>> cells = summary.get("confusion").get(gold).fields();
                     cells.hasNext(); ) {
                    var cell = cells.next();
                    confusion += cell.getValue().asLong();
                    diagonal += cell.getKey().equals(gold) ? cell.getValue().asLong() : 0;
                }
            }
            assertEquals(n, confusion);
            assertEquals(summary.get("correct").asLong(), diagonal);
            double[] ci = {summary.get("accuracy_ci95").get(0).asDouble(), summary.get("accuracy_ci95").get(1).asDouble()};
            assertTrue(ci[0] <= summary.get("accuracy").asDouble() && summary.get("accuracy").asDouble() <= ci[1]);
        }
        assertEquals(run.output.toString(), tuned.get("adapter").asText());
        List<String> predictions = Files.readAllLines(run.output.resolve("eval-test/predictions.jsonl"));
        assertEquals(200, predictions.size());
        assertTrue(predictions.get(0).contains("\"logprobs\":{\"A\":"), predictions.get(0));
    }

    private static JsonNode eval(TinyRun run, String folder, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("eval", "--config", "configs/qwen3-lora.yaml", "--split", "test"));
        for (String o : run.overrides()) {
            args.add("--set");
            args.add(o);
        }
        for (String e : extra) {
            if (e.startsWith("--")) {
                args.add(e);
            } else {
                args.add("--set");
                args.add(e);
            }
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(args.toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        assertEquals(0, code, err.toString());
        assertTrue(out.toString().contains("accuracy "), out.toString());
        return new ObjectMapper().readTree(run.output.resolve(folder).resolve("summary.json").toFile());
    }
}
