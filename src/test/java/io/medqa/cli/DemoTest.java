package io.medqa.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's first command: the demo runs to the end and the adapter clearly beats the base. */
class DemoTest {

    @TempDir
    Path tmp;

    @Test
    void demoTrainsEvaluatesAndAnswers() throws Exception {
        long t0 = System.nanoTime();
        CliTest.Run r = CliTest.run("demo", "--dir", tmp.toString(), "--config", "configs/demo.yaml");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("held-out accuracy: base ([0-9.]+) .* with adapter ([0-9.]+)").matcher(r.out());
        assertTrue(m.find(), r.out());
        double before = Double.parseDouble(m.group(1));
        double after = Double.parseDouble(m.group(2));
        assertTrue(before < 0.5 && after >= 0.9, "base " + before + ", adapter " + after);
        assertTrue(r.out().contains("Answer: "), r.out());
        assertTrue(r.out().contains("Explanation: "), r.out());
        for (String f : new String[] {"run/adapter_model.safetensors", "run/adapter_config.json", "run/metrics.jsonl",
                "run/loss_curve.png", "run/best/best.json", "run/run.json", "run/eval-test/summary.json",
                "run/eval-test-base/summary.json", "run/checkpoint-240/trainer_state.json",
                "model/config.json", "data/test.jsonl"}) {
            assertTrue(Files.exists(tmp.resolve(f)), f);
        }
        assertSuggestedQuestionHasItsAnswerAmongTheOptions(r.out());
        assertTrue(r.out().contains("--set output.dir=" + tmp.resolve("run") + " --split test"),
                "the suggested eval names this run's folder: " + r.out());
        System.out.printf("demo: %.1f s%n", seconds); // timing is reported, not asserted: CI machines vary
    }

    /** The printed `medqa ask` suggestion offers the option the data marks correct for that question. */
    private void assertSuggestedQuestionHasItsAnswerAmongTheOptions(String out) throws Exception {
        Matcher ask = Pattern.compile("medqa ask .* \"([^\"]+\\?)\"((?: --option [A-E]=\"[^\"]*\")+)").matcher(out);
        assertTrue(ask.find(), out);
        String question = ask.group(1);
        String options = ask.group(2);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        String[] keys = {"opa", "opb", "opc", "opd"};
        int rows = 0;
        for (String line : Files.readAllLines(tmp.resolve("data/test.jsonl"))) {
            com.fasterxml.jackson.databind.JsonNode row = json.readTree(line);
            if (row.get("question").asText().equals(question)) {
                String correct = row.get(keys[row.get("cop").asInt() - 1]).asText();
                assertTrue(options.contains("=\"" + correct + "\""), "suggested " + options + " lacks " + correct);
                rows++;
            }
        }
        assertTrue(rows > 0, "the suggested question is one of the held-out questions: " + question);
    }
}
