package io.medqa.lora;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigException;
import io.medqa.config.TrainConfig;
import io.medqa.io.Json;
import io.medqa.io.SafetensorsFile;
import io.medqa.model.Qwen3Config;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Qwen3Model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors), written by medqa
 * or by Hugging Face PEFT, and checks it against the base model before anything is injected.
 */
public final class AdapterFiles {

    /** PEFT's key, with or without the adapter name ".default" that PEFT uses in memory. */
    private static final Pattern KEY = Pattern.compile(
            "base_model\\.model\\.model\\.layers\\.(\\d+)\\.(self_attn|mlp)\\.(\\w+)\\.lora_([AB])(?:\\.default)?\\.weight");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A checked adapter: its LoRA settings and every matrix under medqa's (PEFT's saved) names. */
    public record Loaded(TrainConfig.Lora config, Map<String, float[]> weights, String baseModel) {}

    private AdapterFiles() {}

    public static Loaded read(Path dir, Qwen3Model base) {
        return read(dir, base.config());
    }

    /** Checks against the base's config.json alone: projection shapes follow from it. */
    public static Loaded read(Path dir, Qwen3Config base) {
        if (!Files.isDirectory(dir)) {
            throw new MedqaException(ExitCodes.NO_INPUT, dir + (Files.exists(dir) ? ": not a folder (a PEFT adapter "
                    + "folder holds adapter_config.json and adapter_model.safetensors)" : ": adapter folder not found"));
        }
        Path configFile = dir.resolve(LoraAdapter.CONFIG_FILE);
        Path weightsFile = dir.resolve(LoraAdapter.WEIGHTS_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new MedqaException(ExitCodes.NO_INPUT, configFile + ": file not found (is " + dir
                    + " a PEFT adapter folder?)");
        }
        if (!Files.isRegularFile(weightsFile)) {
            String hint = Files.exists(dir.resolve("adapter_model.bin"))
                    ? " (adapter_model.bin is a pickle; save the adapter with safe_serialization=True)" : "";
            throw new MedqaException(ExitCodes.NO_INPUT, weightsFile + ": file not found" + hint);
        }
        JsonNode c;
        try {
            c = JSON.readTree(configFile.toFile());
        } catch (JsonProcessingException e) {
            throw bad(configFile, "not valid JSON: " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, configFile + ": cannot read: " + e.getMessage());
        }
        if (c == null || !c.isObject()) {
            throw bad(configFile, "not a JSON object");
        }
        if (!"LORA".equals(c.path("peft_type").asText())) {
            throw bad(configFile, "peft_type is \"" + c.path("peft_type").asText() + "\"; only LORA adapters are supported");
        }
        refuse(configFile, c, "use_dora", "DoRA adapters are not supported");
        refuse(configFile, c, "fan_in_fan_out", "fan_in_fan_out applies to Conv1D layers, which Qwen3 has none of");
        for (String key : List.of("rank_pattern", "alpha_pattern")) {
            if (c.path(key).isObject() && c.path(key).size() > 0) {
                throw bad(configFile, key + " is set; per-module ranks and alphas are not supported");
            }
        }
        if (!c.path("bias").asText("none").equals("none")) {
            throw bad(configFile, "bias is \"" + c.path("bias").asText() + "\"; only bias \"none\" is supported");
        }
        if (c.hasNonNull("modules_to_save") && c.get("modules_to_save").size() > 0) {
            throw bad(configFile, "modules_to_save is set; adapters that replace whole modules are not supported");
        }
        // PEFT's defaults when a key is absent: r 8, lora_alpha 8.
        int r = positiveInt(configFile, c, "r", 8);
        double alpha = c.hasNonNull("lora_alpha") ? number(configFile, c, "lora_alpha") : 8;
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw bad(configFile, "lora_alpha must be a number > 0, got " + c.get("lora_alpha")
                    + " (the adapter's scale is lora_alpha / r)");
        }
        boolean rslora = c.path("use_rslora").asBoolean(false);
        String baseModel = c.path("base_model_name_or_path").asText("");
        checkBaseConfig(configFile, baseModel, base);

        Map<String, float[]> weights = new LinkedHashMap<>();
        Set<String> targets = new LinkedHashSet<>();
        try (SafetensorsFile f = SafetensorsFile.open(weightsFile)) {
            for (SafetensorsFile.TensorInfo t : f.tensors().values()) {
                Matcher m = KEY.matcher(t.name());
                if (!m.matches()) {
                    throw bad(weightsFile, "tensor " + t.name() + " is not a LoRA matrix of a Qwen3 projection");
                }
                int layer = Integer.parseInt(m.group(1));
                String module = m.group(3);
                if (!Qwen3Layer.PROJECTIONS.contains(module) || !Qwen3Layer.modulePath(module).startsWith(m.group(2))) {
                    throw bad(weightsFile, "tensor " + t.name() + ": target module " + m.group(2) + "." + module
                            + " does not exist in Qwen3 (projections: " + Qwen3Layer.PROJECTIONS + ")");
                }
                if (layer >= base.numHiddenLayers()) {
                    throw bad(weightsFile, "tensor " + t.name() + ": layer " + layer + " does not exist; the base has "
                            + base.numHiddenLayers() + " layers (an adapter for another model?)");
                }
                long[] w = base.projectionShape(module);
                long[] expected = m.group(4).equals("A") ? new long[] {r, w[1]} : new long[] {w[0], r};
                if (!Arrays.equals(t.shape(), expected)) {
                    throw bad(weightsFile, "tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
                            + ", but r " + r + " on this base's " + module + " " + Arrays.toString(w) + " needs "
                            + Arrays.toString(expected));
                }
                String key = LoraAdapter.key(layer, module, "lora_" + m.group(4));
                float[] values = f.readFloats(t.name());
                refuseNonFinite(weightsFile, t.name(), values);
                if (weights.put(key, values) != null) {
                    throw bad(weightsFile, "tensor " + key + " appears twice (with and without .default)");
                }
                targets.add(module);
            }
        }
        for (String key : new ArrayList<>(weights.keySet())) {
            String other = key.contains("lora_A") ? key.replace("lora_A", "lora_B") : key.replace("lora_B", "lora_A");
            if (!weights.containsKey(other)) {
                throw bad(weightsFile, "tensor " + other + " is missing (its pair " + key + " is present)");
            }
        }
        if (weights.isEmpty()) {
            throw bad(weightsFile, "holds no LoRA matrices");
        }
        List<String> ordered = Qwen3Layer.PROJECTIONS.stream().filter(targets::contains).toList();
        TrainConfig.Lora lora;
        try {
            lora = new TrainConfig.Lora(r, alpha, 0.0, ordered, rslora);
        } catch (ConfigException e) {
            throw bad(configFile, e.getMessage().replace("key lora.alpha", "lora_alpha").replace("key lora.", ""));
        }
        return new Loaded(lora, weights, baseModel);
    }

    /** When the adapter names a local base folder, its config must describe the same shapes. */
    private static void checkBaseConfig(Path configFile, String baseModel, Qwen3Config base) {
        if (baseModel.isEmpty() || !Files.isRegularFile(Path.of(baseModel).resolve("config.json"))) {
            return;
        }
        Qwen3Config trained;
        try {
            trained = Qwen3Config.load(Path.of(baseModel));
        } catch (MedqaException e) {
            return; // not a readable Qwen3 folder any more: the shape checks still apply
        }
        List<String> diffs = new ArrayList<>();
        diff(diffs, "hidden_size", trained.hiddenSize(), base.hiddenSize());
        diff(diffs, "num_hidden_layers", trained.numHiddenLayers(), base.numHiddenLayers());
        diff(diffs, "num_attention_heads", trained.numAttentionHeads(), base.numAttentionHeads());
        diff(diffs, "num_key_value_heads", trained.numKeyValueHeads(), base.numKeyValueHeads());
        diff(diffs, "head_dim", trained.headDim(), base.headDim());
        diff(diffs, "intermediate_size", trained.intermediateSize(), base.intermediateSize());
        diff(diffs, "vocab_size", trained.vocabSize(), base.vocabSize());
        if (!diffs.isEmpty()) {
            throw bad(configFile, "the adapter was trained on " + baseModel + ", whose config differs from this base: "
                    + String.join(", ", diffs));
        }
    }

    private static void diff(List<String> out, String key, int trained, int base) {
        if (trained != base) {
            out.add(key + " " + trained + " vs " + base);
        }
    }

    private static int positiveInt(Path file, JsonNode c, String key, int absent) {
        JsonNode n = c.get(key);
        if (n == null || n.isNull()) {
            return absent;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1) {
            throw bad(file, key + " must be a positive integer, got " + n);
        }
        return n.asInt();
    }

    private static double number(Path file, JsonNode c, String key) {
        JsonNode n = c.get(key);
        if (!n.isNumber()) {
            throw bad(file, key + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    /**
     * NaN or infinite LoRA weights make every logit NaN: evaluation would silently answer "A" and a
     * merge would write a model full of NaN, so such an adapter is refused when it is read.
     */
    private static void refuseNonFinite(Path file, String tensor, float[] values) {
        int bad = 0;
        int first = -1;
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                if (bad++ == 0) {
                    first = i;
                }
            }
        }
        if (bad > 0) {
            throw bad(file, "tensor " + tensor + " holds " + bad + " non-finite values (NaN or infinity; the first at "
                    + "index " + first + " is " + values[first] + "): the adapter is broken, perhaps by a diverged run");
        }
    }

    private static void refuse(Path file, JsonNode c, String key, String why) {
        if (c.path(key).asBoolean(false)) {
            throw bad(file, key + " is true; " + why);
        }
    }

    private static MedqaException bad(Path file, String what) {
        return new MedqaException(ExitCodes.DATA, file + ": " + what);
    }
}
