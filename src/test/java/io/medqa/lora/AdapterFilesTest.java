package io.medqa.lora;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.io.HalfFloats;
import io.medqa.model.ForwardParityTestAccess;
import io.medqa.model.Generator;
import io.medqa.model.Qwen3Model;
import io.medqa.model.Sampling;
import io.medqa.io.SafetensorsFile;
import io.medqa.model.Qwen3Layer;
import io.medqa.testing.Arrays2;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Adapters in PEFT's layout written here by hand (not by medqa's writer), mismatches, and merge. */
class AdapterFilesTest {

    @TempDir
    Path tmp;

    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.gqa();
    static final TrainConfig.Lora LORA = new TrainConfig.Lora(4, 8, 0.0, List.of("q_proj", "o_proj", "up_proj"), false);

    /**
     * An adapter folder as PEFT writes it: safetensors built byte by byte, keys with ".default" when asked,
     * values stored in {@code dtype}, and an adapter_config.json with PEFT's own extra keys.
     */
    static Path writePeftAdapter(Path dir, Map<String, float[]> weights, String dtype, boolean withDefault,
                                 String baseModel, TrainConfig.Lora c) throws Exception {
        Files.createDirectories(dir);
        StringBuilder header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        long offset = 0;
        for (var e : weights.entrySet()) {
            String name = withDefault ? e.getKey().replace(".weight", ".default.weight") : e.getKey();
            String[] parts = e.getKey().split("\\.");
            String module = parts[6];
            long[] w = TinyQwen3.shapeOf(SPEC, "model.layers." + parts[4] + "." + Qwen3Layer.modulePath(module) + ".weight");
            long[] shape = e.getKey().contains("lora_A") ? new long[] {c.r(), w[1]} : new long[] {w[0], c.r()};
            int width = dtype.equals("F32") ? 4 : 2;
            ByteBuffer b = ByteBuffer.allocate(e.getValue().length * width).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : e.getValue()) {
                switch (dtype) {
                    case "F32" -> b.putFloat(v);
                    case "F16" -> b.putShort(HalfFloats.floatToF16(v));
                    default -> b.putShort(HalfFloats.floatToBf16(v));
                }
            }
            header.append(",\"").append(name).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[")
                    .append(shape[0]).append(',').append(shape[1]).append("],\"data_offsets\":[").append(offset)
                    .append(',').append(offset + b.capacity()).append("]}");
            offset += b.capacity();
            data.write(b.array());
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        file.write(h);
        file.write(data.toByteArray());
        Files.write(dir.resolve("adapter_model.safetensors"), file.toByteArray());
        Files.writeString(dir.resolve("adapter_config.json"), "{\n"
                + "  \"alpha_pattern\": {}, \"auto_mapping\": null, \"base_model_name_or_path\": \"" + baseModel + "\",\n"
                + "  \"bias\": \"none\", \"fan_in_fan_out\": false, \"inference_mode\": true, \"init_lora_weights\": true,\n"
                + "  \"layers_pattern\": null, \"layers_to_transform\": null, \"lora_alpha\": " + (int) c.alpha() + ",\n"
                + "  \"lora_dropout\": 0.05, \"modules_to_save\": null, \"peft_type\": \"LORA\", \"r\": " + c.r() + ",\n"
                + "  \"rank_pattern\": {}, \"revision\": null, \"target_modules\": " + toJson(c.targetModules()) + ",\n"
                + "  \"task_type\": \"CAUSAL_LM\", \"use_dora\": false, \"use_rslora\": " + c.useRslora() + "\n}\n");
        return dir;
    }

    private static String toJson(List<String> l) {
        return "[\"" + String.join("\", \"", l) + "\"]";
    }

    private float[] logits(Qwen3Model model) {
        return ForwardParityTestAccess.logits(model, new int[][] {{257, 10, 20, 30, 40, 258}});
    }

    @Test
    void peftAdaptersLoadWithAndWithoutDefaultInEveryDtype() throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        Map<String, float[]> weights = LoraTest.randomAdapter(SPEC, LORA, 5);
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32)) {
            for (String dtype : List.of("F32", "F16", "BF16")) {
                for (boolean withDefault : List.of(false, true)) {
                    Path dir = writePeftAdapter(tmp.resolve(dtype + withDefault), weights, dtype, withDefault,
                            base.toString(), LORA);
                    float[] expected;
                    try (LoraAdapter direct = LoraAdapter.inject(model, LORA, 0, TinyQwen3.rounded(weights, dtype))) {
                        expected = logits(model);
                    }
                    try (LoraAdapter loaded = LoraAdapter.load(model, dir)) {
                        assertEquals(LORA.targetModules(), loaded.config().targetModules());
                        assertEquals(0.0, Arrays2.maxRelativeError(logits(model), LoraTest.toDouble(expected)),
                                dtype + " .default=" + withDefault);
                    }
                }
            }
        }
    }

    @Test
    void rsLoraFromTheConfigIsApplied() throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        TrainConfig.Lora rs = new TrainConfig.Lora(4, 8, 0.0, List.of("v_proj"), true);
        Map<String, float[]> weights = LoraTest.randomAdapter(SPEC, rs, 6);
        Path dir = writePeftAdapter(tmp.resolve("rs"), weights, "F32", false, "", rs);
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32)) {
            float[] expected;
            try (LoraAdapter direct = LoraAdapter.inject(model, rs, 0, weights)) {
                expected = logits(model);
            }
            try (LoraAdapter loaded = LoraAdapter.load(model, dir)) {
                assertEquals(8 / 2.0, loaded.config().scale());
                assertEquals(0.0, Arrays2.maxRelativeError(logits(model), LoraTest.toDouble(expected)));
            }
        }
    }

    private static void refused(Path dir, Qwen3Model model, String... parts) {
        MedqaException e = assertThrows(MedqaException.class, () -> LoraAdapter.load(model, dir).close());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    @Test
    void mismatchedAdaptersAreRefused() throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        TinyQwen3.Spec wider = new TinyQwen3.Spec(300, 48, 48, 3, 4, 2, 16, true, 10000.0, 7);
        Path otherBase = TinyQwen3.write(tmp.resolve("other"), wider, "F32", 1);
        TrainConfig.Lora q = new TrainConfig.Lora(4, 8, 0.0, List.of("q_proj"), false);
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32)) {
            // trained for a base with hidden 48: shapes do not fit, and its base config differs
            Path foreign = writePeftAdapter(tmp.resolve("foreign"), Map.of(), "F32", false, otherBase.toString(), q);
            refused(foreign, model, "adapter_config.json", "whose config differs", "hidden_size 48 vs 32",
                    "num_hidden_layers 3 vs 2");
            Map<String, float[]> good = LoraTest.randomAdapter(SPEC, q, 1);
            Path shapes = writePeftAdapter(tmp.resolve("shapes"), good, "F32", false, "", q);
            Files.writeString(shapes.resolve("adapter_config.json"),
                    Files.readString(shapes.resolve("adapter_config.json")).replace("\"r\": 4", "\"r\": 8"));
            refused(shapes, model, "adapter_model.safetensors", "lora_A.weight has shape [4, 32]", "r 8");
            Path module = writePeftAdapter(tmp.resolve("module"), good, "F32", false, "", q);
            rename(module, "q_proj", "qkv_proj");
            refused(module, model, "target module self_attn.qkv_proj does not exist");
            Path layer = writePeftAdapter(tmp.resolve("layer"), good, "F32", false, "", q);
            rename(layer, "layers.1.", "layers.7.");
            refused(layer, model, "layer 7 does not exist; the base has 2 layers");
            Path notLora = writePeftAdapter(tmp.resolve("prefix"), good, "F32", false, "", q);
            Files.writeString(notLora.resolve("adapter_config.json"),
                    Files.readString(notLora.resolve("adapter_config.json")).replace("\"LORA\"", "\"PREFIX_TUNING\""));
            refused(notLora, model, "peft_type is \"PREFIX_TUNING\"");
            Path save = writePeftAdapter(tmp.resolve("save"), good, "F32", false, "", q);
            Files.writeString(save.resolve("adapter_config.json"), Files.readString(save.resolve("adapter_config.json"))
                    .replace("\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]"));
            refused(save, model, "modules_to_save is set");
            Files.delete(save.resolve("adapter_config.json"));
            refused(save, model, "adapter_config.json: file not found");
        }
    }

    /** Renames tensors inside a hand-written adapter (same byte lengths are not required: rewrite whole). */
    private static void rename(Path dir, String from, String to) throws Exception {
        Path f = dir.resolve("adapter_model.safetensors");
        byte[] bytes = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8).replace(from, to);
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.write(h);
        out.write(bytes, 8 + (int) n, bytes.length - 8 - (int) n);
        Files.write(f, out.toByteArray());
    }

    @Test
    void mergedFolderHoldsWPlusScaledBAAndGeneratesLikeTheAdapter() throws Exception {
        for (String dtype : List.of("F32", "BF16")) {
            Path base = TinyQwen3.write(tmp.resolve("base" + dtype), SPEC, dtype, 2);
            Map<String, float[]> weights = LoraTest.randomAdapter(SPEC, LORA, 8);
            Path adapter = writePeftAdapter(tmp.resolve("ad" + dtype), weights, "F32", true, base.toString(), LORA);
            Path merged = tmp.resolve("merged" + dtype);
            assertEquals(SPEC.layers() * 3, LoraMerge.merge(base, adapter, merged));
            assertTrue(Files.isRegularFile(merged.resolve("model.safetensors.index.json")));
            assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")));
            assertEquals(Files.readString(base.resolve("config.json")), Files.readString(merged.resolve("config.json")));
            Map<String, float[]> stored = TinyQwen3.rounded(TinyQwen3.weights(SPEC), dtype);
            String name = "model.layers.1.mlp.up_proj.weight";
            long[] shape = TinyQwen3.shapeOf(SPEC, name);
            float[] want = LoraTest.merged(stored.get(name), weights.get(LoraAdapter.key(1, "up_proj", "lora_A")),
                    weights.get(LoraAdapter.key(1, "up_proj", "lora_B")), (int) shape[0], (int) shape[1], 4, 2.0);
            String shard = Files.readString(merged.resolve("model.safetensors.index.json")).contains(
                    "\"" + name + "\" : \"model-00001") ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
            try (SafetensorsFile f = SafetensorsFile.open(merged.resolve(shard))) {
                assertEquals(dtype, f.info(name).dtype());
                float[] got = f.readFloats(name);
                float tolerance = dtype.equals("F32") ? 1e-6f : 0.01f;
                for (int i = 0; i < want.length; i++) {
                    float w = dtype.equals("F32") ? want[i] : HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(want[i]));
                    assertEquals(w, got[i], tolerance * Math.max(1, Math.abs(w)), name + "[" + i + "]");
                }
                // untouched tensors are copied byte for byte
                String norm = "model.layers.0.input_layernorm.weight";
                if (f.tensors().containsKey(norm)) {
                    assertArrayEquals(stored.get(norm), f.readFloats(norm), 0f);
                }
            }
            if (dtype.equals("F32")) {
                int[] prompt = {257, 72, 105, 258, 10, 257};
                int[] onTheFly;
                try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32);
                     LoraAdapter a = LoraAdapter.load(model, adapter)) {
                    onTheFly = new Generator(model, Set.of()).generate(prompt, 12, Sampling.GREEDY, id -> { }).ids();
                }
                try (Qwen3Model model = Qwen3Model.load(merged, Device.cpu(), DataType.FLOAT32)) {
                    assertArrayEquals(onTheFly, new Generator(model, Set.of()).generate(prompt, 12, Sampling.GREEDY,
                            id -> { }).ids());
                }
            }
            MedqaException exists = assertThrows(MedqaException.class, () -> LoraMerge.merge(base, adapter, merged));
            assertEquals(ExitCodes.IO, exists.exitCode());
        }
    }
}
