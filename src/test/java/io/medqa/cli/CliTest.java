package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.testing.ReferenceQwen3;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CliTest {

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void versionAndHelpWithExamples() {
        Run version = run("--version");
        assertEquals(0, version.code());
        assertTrue(version.out().startsWith("medqa 0."), version.out());
        for (String[] args : new String[][] {{"--help"}, {"generate", "--help"}}) {
            Run help = run(args);
            assertEquals(0, help.code());
            assertTrue(help.out().contains("Examples:"), String.join(" ", args) + ": " + help.out());
        }
        Run none = run();
        assertEquals(2, none.code());
    }

    @Test
    void generateJsonGivesTheReferenceGreedyIds() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        Path dir = TinyQwen3.write(tmp.resolve("m"), spec, "F16", 1);
        Run r = run("generate", "--model", dir.toString(), "--prompt-ids", "257,72,105,258,10,257",
                "--max-new-tokens", "8", "--json", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        int[] ids = new int[json.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = json.get("ids").get(i).asInt();
        }
        int[] expected = new ReferenceQwen3(spec, TinyQwen3.rounded(TinyQwen3.weights(spec), "F16"))
                .greedy(new int[] {257, 72, 105, 258, 10, 257}, 8);
        assertArrayEquals(expected, ids);
        assertEquals(6, json.get("prompt_tokens").asInt());
        assertEquals(8, json.get("generated_tokens").asInt());
        assertTrue(json.has("text"));
    }

    @Test
    void generateStreamsTextThroughTheChatTemplate() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.mha(), "F32", 1);
        Run json = run("generate", "--model", dir.toString(), "--prompt", "Hi", "--max-new-tokens", "5", "--json");
        Run text = run("generate", "--model", dir.toString(), "--prompt", "Hi", "--max-new-tokens", "5");
        assertEquals(0, text.code(), text.err());
        JsonNode node = new ObjectMapper().readTree(json.out());
        // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n": 5 specials + 22 bytes
        assertEquals(27, node.get("prompt_tokens").asInt());
        assertEquals(TinyQwen3.IM_START, node.get("ids").get(0).asInt());
        assertEquals(node.get("text").asText() + System.lineSeparator(), text.out());
    }

    @Test
    void badCheckpointGivesOneLineAndExitCode() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        Files.writeString(dir.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replace("\"hidden_size\" : 32", "\"hidden_size\" : 40"));
        Run r = run("generate", "--model", dir.toString(), "--prompt-ids", "1,2", "--device", "cpu");
        assertEquals(65, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("medqa: error: "), r.err());
        assertTrue(r.err().contains("model.embed_tokens.weight has shape [300, 32], expected [300, 40]"), r.err());

        Run verbose = run("generate", "--model", dir.toString(), "--prompt-ids", "1,2", "-v");
        assertEquals(65, verbose.code());
        assertTrue(verbose.err().contains("\tat io.medqa."), "a stack trace with -v");
    }

    @Test
    void usageErrorsAreRefused() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        assertEquals(2, run("generate", "--model", dir.toString()).code()); // neither --prompt nor --prompt-ids
        Run outside = run("generate", "--model", dir.toString(), "--prompt-ids", "1,300");
        assertEquals(2, outside.code());
        assertTrue(outside.err().contains("token id 300 is outside the vocabulary [0, 300)"), outside.err());
        Run device = run("generate", "--model", dir.toString(), "--prompt-ids", "1", "--device", "tpu");
        assertEquals(2, device.code());
        assertFalse(device.err().contains("\tat "));
    }

    @Test
    void trainRunsFromTheCommandLineAndReportsBadLines() throws Exception {
        io.medqa.testing.TinyRun run = new io.medqa.testing.TinyRun(tmp, 24);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("train", "--config", "configs/qwen3-lora.yaml",
                "--device", "cpu"));
        for (String o : run.overrides("train.max_steps=2")) {
            args.add("--set");
            args.add(o);
        }
        Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("trained 2 steps"), r.out());
        assertTrue(r.err().contains("trainable params: "), r.err());
        assertTrue(Files.exists(run.output.resolve("adapter_model.safetensors")));
        assertTrue(Files.readString(run.output.resolve("train.log")).contains("resolved config"));
        assertTrue(Files.readString(run.output.resolve("run.json")).contains("\"device\" : \"cpu()\""));

        Files.writeString(run.train, Files.readString(run.train) + "{\"question\": \"broken\"\n");
        args.add("--overwrite");
        Run bad = run(args.toArray(String[]::new));
        assertEquals(65, bad.code());
        assertTrue(bad.err().contains("medqa: error: " + run.train + ":25: malformed JSON"), bad.err());
        assertFalse(bad.err().contains("\tat "));
        // the run that --overwrite would have replaced is back, whole
        assertTrue(Files.exists(run.output.resolve("adapter_model.safetensors")));
        assertTrue(Files.readString(run.output.resolve("run.json")).contains("\"completed\""));
    }

    @Test
    void askMergeAndGenerateWithAnAdapter() throws Exception {
        io.medqa.testing.TinyRun run = new io.medqa.testing.TinyRun(tmp, 24);
        java.util.List<String> train = new java.util.ArrayList<>(java.util.List.of("train", "--config", "configs/qwen3-lora.yaml"));
        for (String o : run.overrides("train.max_steps=3", "train.lr=5e-2")) {
            train.add("--set");
            train.add(o);
        }
        assertEquals(0, run(train.toArray(String[]::new)).code());
        String model = run.model.toString();
        String adapter = run.output.toString();

        Run ask = run("ask", "--model", model, "--adapter", adapter, "A patient has silver tears. Which organ?",
                "--option", "A=heart", "--option", "B=lung", "--option", "C=liver", "--max-new-tokens", "12", "--json");
        assertEquals(0, ask.code(), ask.err());
        JsonNode answer = new ObjectMapper().readTree(ask.out());
        assertEquals("liver", answer.get("options").get("C").asText());
        assertTrue(answer.has("letter") && answer.has("explanation") && answer.get("text").isTextual());
        Run one = run("ask", "--model", model, "Q?", "--option", "A=x");
        assertEquals(2, one.code());
        assertTrue(one.err().contains("give 2 to 5 options"), one.err());
        Path questions = tmp.resolve("q.jsonl");
        Files.writeString(questions, "{\"question\": \"Q1?\", \"options\": {\"A\": \"x\", \"B\": \"y\"}}\n"
                + "{\"question\": \"Q2?\", \"opa\": \"x\", \"opb\": \"y\", \"opc\": \"z\", \"opd\": \"w\"}\n");
        Run file = run("ask", "--model", model, "--input", questions.toString(), "--max-new-tokens", "4", "--json");
        assertEquals(0, file.code(), file.err());
        assertEquals(2, file.out().strip().lines().count());

        Path merged = tmp.resolve("merged");
        Run merge = run("merge", "--model", model, "--adapter", adapter, "--out", merged.toString());
        assertEquals(0, merge.code(), merge.err());
        assertTrue(merge.out().contains("merged 8 projections"), merge.out());
        Run viaAdapter = run("generate", "--model", model, "--adapter", adapter, "--prompt", "Hi", "--max-new-tokens", "8",
                "--json");
        Run viaMerged = run("generate", "--model", merged.toString(), "--prompt", "Hi", "--max-new-tokens", "8", "--json");
        Run plain = run("generate", "--model", model, "--prompt", "Hi", "--max-new-tokens", "8", "--json");
        assertEquals(0, viaAdapter.code(), viaAdapter.err());
        assertEquals(viaAdapter.out(), viaMerged.out());
        assertFalse(plain.out().equals(viaAdapter.out()), "the adapter changes what is generated");
        assertEquals(74, run("merge", "--model", model, "--adapter", adapter, "--out", merged.toString()).code());

        for (String command : new String[] {"train", "eval", "ask", "merge", "generate"}) {
            Run help = run(command, "--help");
            assertEquals(0, help.code());
            assertTrue(help.out().contains("Examples:"), command);
        }
    }
}
