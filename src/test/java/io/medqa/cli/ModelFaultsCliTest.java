package io.medqa.cli;

import io.medqa.ExitCodes;
import io.medqa.data.SyntheticMcq;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Config;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken, hostile or missing model and adapter folders, through the CLI: one line, the documented code. */
class ModelFaultsCliTest {

    @TempDir
    Path tmp;

    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.gqa();
    Path model;

    @BeforeEach
    void writeModel() throws Exception {
        model = TinyQwen3.write(tmp.resolve("model"), SPEC, "F32", 1);
    }

    private static CliTest.Run generate(Path modelDir) {
        return CliTest.run("generate", "--model", modelDir.toString(), "--prompt-ids", "72,105", "--max-new-tokens", "2",
                "--device", "cpu");
    }

    /** The exit code, and stderr as exactly one "medqa: error: ..." line holding every fragment. */
    private static void refused(CliTest.Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), "one line expected: " + r.err());
        assertTrue(r.err().startsWith("medqa: error: "), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "missing \"" + f + "\" in " + r.err());
        }
    }

    @Test
    void aMissingModelFolderIsNamedAsSuchNotAsAMissingFile() throws Exception {
        Path nowhere = tmp.resolve("no-such-model");
        refused(generate(nowhere), ExitCodes.NO_INPUT, nowhere + ": model folder not found");
        refused(CliTest.run("ask", "--model", nowhere.toString(), "Q?", "--option", "A=x", "--option", "B=y"),
                ExitCodes.NO_INPUT, nowhere + ": model folder not found");
        Path data = tmp.resolve("t.jsonl");
        SyntheticMcq.write(data, 4, 1);
        refused(CliTest.run("eval", "--data", data.toString(), "--model", nowhere.toString(), "--out",
                tmp.resolve("e").toString()), ExitCodes.NO_INPUT, "model folder not found");
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        refused(generate(file), ExitCodes.NO_INPUT, file + ": not a folder");
        refused(CliTest.run("merge", "--model", model.toString(), "--adapter", nowhere.toString(), "--out",
                tmp.resolve("merged").toString()), ExitCodes.NO_INPUT, nowhere + ": adapter folder not found");
        assertFalse(Files.exists(tmp.resolve("merged")));
    }

    @Test
    void shardPathsThatLeaveTheModelFolderAreRefused() throws Exception {
        Path sharded = TinyQwen3.write(tmp.resolve("sharded"), SPEC, "F32", 2);
        String second = "model-00002-of-00002.safetensors";
        Path index = sharded.resolve("model.safetensors.index.json");
        String original = Files.readString(index);
        assertEquals(0, generate(sharded).code()); // the honest folder loads
        Path outside = Files.move(sharded.resolve(second), tmp.resolve(second));

        Files.writeString(index, original.replace("\"" + second + "\"", "\"../" + second + "\""));
        refused(generate(sharded), ExitCodes.DATA, index.toString(), "refusing shard \"../" + second + "\"");
        Files.writeString(index, original.replace("\"" + second + "\"", "\"" + outside + "\""));
        refused(generate(sharded), ExitCodes.DATA, "refusing shard \"" + outside + "\"");
        Files.writeString(index, original.replace("\"" + second + "\"", "\"./sub/../../" + second + "\""));
        refused(generate(sharded), ExitCodes.DATA, "refusing shard");
        Files.createSymbolicLink(sharded.resolve(second), outside);
        Files.writeString(index, original);
        refused(generate(sharded), ExitCodes.DATA, "refusing shard \"" + second + "\"", "no link out");
        // merge hashes and copies the same files: refused the same way, and nothing is written
        refused(CliTest.run("merge", "--model", sharded.toString(), "--adapter", adapter("ok", 1f, 8).toString(),
                "--out", tmp.resolve("merged").toString()), ExitCodes.DATA, "refusing shard");
        assertFalse(Files.exists(tmp.resolve("merged")));
        // a link that stays inside the folder is fine
        Files.delete(sharded.resolve(second));
        Files.move(outside, sharded.resolve("real.safetensors"));
        Files.createSymbolicLink(sharded.resolve(second), sharded.resolve("real.safetensors").getFileName());
        assertEquals(0, generate(sharded).code(), generate(sharded).err());
    }

    @Test
    void jsonFilesThatAreNotJsonGiveOneLineNamingTheFile() throws Exception {
        for (String name : new String[] {"tokenizer.json", "tokenizer_config.json", "config.json"}) {
            Path m = TinyQwen3.write(tmp.resolve("m-" + name), SPEC, "F32", 1);
            Files.writeString(m.resolve(name), "{\n  \"a\": 1,\n  oops\n}\n");
            refused(generate(m), ExitCodes.DATA, m.resolve(name) + ": not valid JSON: ", "at line 3");
        }
        Path sharded = TinyQwen3.write(tmp.resolve("sharded"), SPEC, "F32", 2);
        Files.writeString(sharded.resolve("model.safetensors.index.json"), "{\"weight_map\": {\n\"x\": }");
        refused(generate(sharded), ExitCodes.DATA, "model.safetensors.index.json: not valid JSON");
        Files.writeString(sharded.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"x\": 3}}");
        refused(generate(sharded), ExitCodes.DATA, "weight_map.x is not a file name");
    }

    @Test
    void aByteOrderMarkInConfigJsonIsTolerated() throws Exception {
        Path config = model.resolve("config.json");
        Files.writeString(config, "\uFEFF" + Files.readString(config));
        CliTest.Run r = generate(model);
        assertEquals(0, r.code(), r.err());
    }

    /** An adapter on q_proj of every layer, each value {@code value}, with the given lora_alpha JSON. */
    private Path adapter(String name, float value, Object alpha) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Qwen3Config c = Qwen3Config.load(model);
        int r = 2;
        long[] w = c.projectionShape("q_proj");
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        for (int layer = 0; layer < SPEC.layers(); layer++) {
            float[] a = new float[(int) (r * w[1])];
            float[] b = new float[(int) (w[0] * r)];
            Arrays.fill(a, 0.01f);
            Arrays.fill(b, value);
            writer.add(LoraAdapter.key(layer, "q_proj", "lora_A"), "F32", new long[] {r, w[1]}, a);
            writer.add(LoraAdapter.key(layer, "q_proj", "lora_B"), "F32", new long[] {w[0], r}, b);
        }
        writer.write(dir.resolve(LoraAdapter.WEIGHTS_FILE));
        Files.writeString(dir.resolve(LoraAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\", \"r\": " + r
                + ", \"lora_alpha\": " + alpha + ", \"target_modules\": [\"q_proj\"], \"bias\": \"none\"}");
        return dir;
    }

    @Test
    void nonFiniteAdapterWeightsAreRefusedWhereverAnAdapterIsRead() throws Exception {
        Path data = tmp.resolve("t.jsonl");
        SyntheticMcq.write(data, 4, 1);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            Path nan = adapter("bad-" + bad, bad, 8);
            String expected = "adapter_model.safetensors: tensor base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
                    + " holds 128 non-finite values";
            refused(CliTest.run("eval", "--data", data.toString(), "--model", model.toString(), "--adapter",
                    nan.toString(), "--out", tmp.resolve("e").toString()), ExitCodes.DATA, expected);
            refused(CliTest.run("ask", "--model", model.toString(), "--adapter", nan.toString(), "Q?", "--option", "A=x",
                    "--option", "B=y"), ExitCodes.DATA, expected);
            refused(CliTest.run("merge", "--model", model.toString(), "--adapter", nan.toString(), "--out",
                    tmp.resolve("merged").toString()), ExitCodes.DATA, expected);
            assertFalse(Files.exists(tmp.resolve("merged")));
            assertFalse(Files.exists(tmp.resolve("e").resolve("summary.json")));
        }
        assertEquals(0, CliTest.run("merge", "--model", model.toString(), "--adapter", adapter("fine", 0.5f, 8).toString(),
                "--out", tmp.resolve("merged").toString()).code());
    }

    @Test
    void badLoraSettingsInAnAdapterAreDataErrorsNotInternalOnes() throws Exception {
        for (Object alpha : new Object[] {0, -4, "\"eight\"", "1e999"}) {
            Path a = adapter("alpha-" + alpha.hashCode(), 0.1f, alpha);
            refused(CliTest.run("merge", "--model", model.toString(), "--adapter", a.toString(), "--out",
                    tmp.resolve("merged").toString()), ExitCodes.DATA, "adapter_config.json: lora_alpha must be a number");
        }
        Path a = adapter("r-zero", 0.1f, 8);
        Files.writeString(a.resolve(LoraAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\", \"r\": 0, \"lora_alpha\": 8}");
        refused(CliTest.run("ask", "--model", model.toString(), "--adapter", a.toString(), "Q?", "--option", "A=x",
                "--option", "B=y"), ExitCodes.DATA, "adapter_config.json: r must be a positive integer, got 0");
        Files.writeString(a.resolve(LoraAdapter.CONFIG_FILE), "[1, 2]");
        refused(CliTest.run("ask", "--model", model.toString(), "--adapter", a.toString(), "Q?", "--option", "A=x",
                "--option", "B=y"), ExitCodes.DATA, "adapter_config.json: not a JSON object");
        Files.writeString(a.resolve(LoraAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\",\n\"r\": }");
        refused(CliTest.run("ask", "--model", model.toString(), "--adapter", a.toString(), "Q?", "--option", "A=x",
                "--option", "B=y"), ExitCodes.DATA, "adapter_config.json: not valid JSON");
    }

    @Test
    void mergeRefusesABaseTensorOfTheWrongShape() throws Exception {
        Path base = Files.createDirectories(tmp.resolve("odd-base"));
        TinyQwen3.writeConfig(base, SPEC, "F32");
        TinyQwen3.writeTokenizer(base);
        Map<String, float[]> weights = TinyQwen3.weights(SPEC);
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        String q = "model.layers.1.self_attn.q_proj.weight";
        for (var e : weights.entrySet()) {
            long[] shape = TinyQwen3.shapeOf(SPEC, e.getKey());
            if (e.getKey().equals(q)) {
                shape = new long[] {shape[1], shape[0]}; // transposed: the same element count
            }
            writer.add(e.getKey(), "F32", shape, e.getValue());
        }
        writer.write(base.resolve("model.safetensors"));
        Path out = tmp.resolve("merged");
        refused(CliTest.run("merge", "--model", base.toString(), "--adapter", adapter("ok", 0.1f, 8).toString(),
                "--out", out.toString()), ExitCodes.DATA, "tensor " + q + " has shape [32, 64], expected [64, 32]");
        assertFalse(Files.exists(out));
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().contains("partial")));
        }
    }

    @Test
    void evalWarnsWhenTheLogitsAreNotFinite() throws Exception {
        Path broken = Files.createDirectories(tmp.resolve("nan-base"));
        TinyQwen3.writeConfig(broken, SPEC, "F32");
        TinyQwen3.writeTokenizer(broken);
        Map<String, float[]> weights = TinyQwen3.weights(SPEC);
        Arrays.fill(weights.get("model.norm.weight"), Float.NaN);
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        weights.forEach((n, v) -> writer.add(n, "F32", TinyQwen3.shapeOf(SPEC, n), v));
        writer.write(broken.resolve("model.safetensors"));
        Path data = tmp.resolve("t.jsonl");
        SyntheticMcq.write(data, 3, 1);
        PrintStream saved = System.err;
        ByteArrayOutputStream logs = new ByteArrayOutputStream();
        CliTest.Run r;
        try {
            System.setErr(new PrintStream(logs, true, StandardCharsets.UTF_8));
            r = CliTest.run("eval", "--data", data.toString(), "--model", broken.toString(), "--out",
                    tmp.resolve("e").toString(), "--device", "cpu");
        } finally {
            System.setErr(saved);
        }
        assertEquals(0, r.code(), r.err());
        String log = logs.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains(data + ":1: the model's logits are not finite"), log);
        assertTrue(log.contains("3 of the questions had non-finite logits"), log);
    }
}
