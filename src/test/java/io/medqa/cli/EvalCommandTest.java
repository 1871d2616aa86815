package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvalCommandTest {

    @TempDir
    Path tmp;

    private static String[] withConfig(TinyRun run, String command, String... extra) {
        List<String> args = new ArrayList<>(List.of(command, "--config", "configs/qwen3-lora.yaml"));
        for (String o : run.overrides("train.max_steps=2")) {
            args.add("--set");
            args.add(o);
        }
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void eachEvaluationGetsItsOwnFolderNamedByWhatWasEvaluated() throws Exception {
        TinyRun run = new TinyRun(tmp, 16);
        assertEquals(0, CliTest.run(withConfig(run, "train")).code());

        CliTest.Run adapter = CliTest.run(withConfig(run, "eval", "--split", "test", "--limit", "0"));
        assertEquals(0, adapter.code(), adapter.err());
        assertEquals(0, CliTest.run(withConfig(run, "eval", "--split", "test", "--base-only")).code());
        assertEquals(0, CliTest.run(withConfig(run, "eval", "--split", "test", "--limit", "5")).code());
        CliTest.Run generate = CliTest.run(withConfig(run, "eval", "--split", "test", "--limit", "2", "--mode", "generate",
                "--max-new-tokens", "3"));
        assertEquals(0, generate.code(), generate.err());
        assertTrue(generate.out().contains(run.output.resolve("eval-test-generate-limit2").toString()), generate.out());

        ObjectMapper json = new ObjectMapper();
        JsonNode full = json.readTree(run.output.resolve("eval-test/summary.json").toFile());
        assertEquals(200, full.get("questions").asInt(), "the adapter's full evaluation is not overwritten");
        assertEquals(run.output.toString(), full.get("adapter").asText());
        JsonNode base = json.readTree(run.output.resolve("eval-test-base/summary.json").toFile());
        assertTrue(base.get("adapter").isNull());
        assertEquals(5, json.readTree(run.output.resolve("eval-test-limit5/summary.json").toFile()).get("questions").asInt());
        assertEquals(2, Files.readAllLines(run.output.resolve("eval-test-generate-limit2/predictions.jsonl")).size());
    }

    @Test
    void folderNamesFollowTheDocumentedScheme() {
        assertEquals("eval-test", EvalCommand.folderName("test", "", "loglik", "chat", 0));
        assertEquals("eval-test-base", EvalCommand.folderName("test", null, "loglik", "chat", 0));
        assertEquals("eval-validation-adapter-other-generate-lmeval-limit50",
                EvalCommand.folderName("validation", "other", "generate", "lm-eval", 50));
    }

    @Test
    void dataAndModelAloneWriteNothingIntoTheWorkingDirectory() throws Exception {
        TinyRun run = new TinyRun(tmp, 8);
        Path cwdFolder = Path.of("eval-test").toAbsolutePath();
        boolean existedBefore = Files.exists(cwdFolder);
        CliTest.Run r = CliTest.run("eval", "--data", run.test.toString(), "--model", run.model.toString(),
                "--limit", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("accuracy "), r.out());
        assertTrue(r.out().contains("nothing written (give --out DIR"), r.out());
        assertEquals(existedBefore, Files.exists(cwdFolder), "no ./eval-test appears");

        Path out = tmp.resolve("results");
        CliTest.Run kept = CliTest.run("eval", "--data", run.test.toString(), "--model", run.model.toString(),
                "--limit", "3", "--out", out.toString());
        assertEquals(0, kept.code(), kept.err());
        assertTrue(kept.out().contains("predictions.jsonl and summary.json in " + out), kept.out());
        assertEquals(3, Files.readAllLines(out.resolve("predictions.jsonl")).size());
        assertFalse(Files.exists(tmp.resolve("eval-test")));
    }
}
