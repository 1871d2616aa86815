package io.medqa.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The fields of a Hugging Face Qwen3 config.json that the forward pass needs, under their Hugging Face
 * names. Defaults are transformers' Qwen3Config defaults where a key may be absent.
 *
 * @param headDim per-head width; Qwen3-0.6B has heads * headDim != hidden, so it is never derived
 *     from hidden when the config states it
 */
public record Qwen3Config(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        String torchDtype,
        List<Integer> eosTokenIds) {

    public Qwen3Config {
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numAttentionHeads
                    + ") is not a multiple of num_key_value_heads (" + numKeyValueHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim (" + headDim + ") must be even for rotary embeddings");
        }
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads {@code dir/config.json}; anything that is not a plain Qwen3 decoder is refused. */
    public static Qwen3Config load(Path dir) {
        ModelFolder.require(dir);
        Path file = dir.resolve("config.json");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readAllBytes(file)); // bytes: Jackson skips a UTF-8 byte-order mark
        } catch (NoSuchFileException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": file not found (is " + dir
                    + " a Hugging Face model folder?)");
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": not valid JSON: " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new MedqaException(ExitCodes.DATA, file + ": not a JSON object");
        }
        String modelType = root.path("model_type").asText("");
        if (!modelType.equals("qwen3")) {
            throw new MedqaException(ExitCodes.DATA, file + ": model_type is \""
                    + modelType + "\"; medqa runs Qwen3 models only (model_type \"qwen3\")");
        }
        refuseIfTrue(file, root, "attention_bias", "attention biases are not part of Qwen3 as released");
        refuseIfTrue(file, root, "use_sliding_window", "sliding-window attention is not implemented");
        double ropeTheta = ropeTheta(file, root);
        int hidden = requiredInt(file, root, "hidden_size");
        int heads = requiredInt(file, root, "num_attention_heads");
        List<Integer> eos = new ArrayList<>();
        JsonNode eosNode = root.path("eos_token_id");
        if (eosNode.isInt()) {
            eos.add(eosNode.asInt());
        } else if (eosNode.isArray()) {
            eosNode.forEach(n -> eos.add(n.asInt()));
        }
        try {
            return new Qwen3Config(
                    requiredInt(file, root, "vocab_size"),
                    hidden,
                    requiredInt(file, root, "intermediate_size"),
                    requiredInt(file, root, "num_hidden_layers"),
                    heads,
                    root.has("num_key_value_heads") ? requiredInt(file, root, "num_key_value_heads") : heads,
                    root.hasNonNull("head_dim") ? requiredInt(file, root, "head_dim") : hidden / heads,
                    root.path("rms_norm_eps").asDouble(1e-6),
                    ropeTheta,
                    root.path("max_position_embeddings").asInt(32768),
                    root.path("tie_word_embeddings").asBoolean(false),
                    root.path("torch_dtype").asText(root.path("dtype").asText("float32")),
                    eos);
        } catch (IllegalArgumentException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": " + e.getMessage());
        }
    }

    /** The (out, in) shape of a layer projection's weight, by its Hugging Face name. */
    public long[] projectionShape(String projection) {
        long q = (long) numAttentionHeads * headDim;
        long kv = (long) numKeyValueHeads * headDim;
        return switch (projection) {
            case "q_proj" -> new long[] {q, hiddenSize};
            case "k_proj", "v_proj" -> new long[] {kv, hiddenSize};
            case "o_proj" -> new long[] {hiddenSize, q};
            case "gate_proj", "up_proj" -> new long[] {intermediateSize, hiddenSize};
            case "down_proj" -> new long[] {hiddenSize, intermediateSize};
            default -> throw new IllegalArgumentException("unknown projection " + projection);
        };
    }

    public int numKeyValueGroups() {
        return numAttentionHeads / numKeyValueHeads;
    }

    private static int requiredInt(Path file, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() <= 0) {
            throw new MedqaException(ExitCodes.DATA, file + ": key " + key
                    + (n == null ? " is missing" : " must be a positive integer, got " + n));
        }
        return n.asInt();
    }

    /**
     * RoPE's base. transformers 4.x writes a top-level {@code rope_theta} (with {@code rope_scaling}
     * null); transformers 5 writes {@code rope_parameters: {rope_type, rope_theta}} instead. Either
     * form is read; a scaled RoPE (any rope_type but "default", e.g. yarn or linear) is refused, since
     * medqa implements the plain one.
     */
    static double ropeTheta(Path file, JsonNode root) {
        double theta = root.path("rope_theta").asDouble(10000.0);
        for (String key : new String[] {"rope_scaling", "rope_parameters"}) {
            JsonNode rope = root.get(key);
            if (rope == null || rope.isNull()) {
                continue;
            }
            if (!rope.isObject()) {
                throw new MedqaException(ExitCodes.DATA, file + ": key " + key + " must be an object or null, got " + rope);
            }
            String type = rope.path("rope_type").asText(rope.path("type").asText("default"));
            if (!type.equals("default")) {
                throw new MedqaException(ExitCodes.DATA, file + ": " + key + " has rope_type \"" + type
                        + "\"; medqa implements plain RoPE (rope_type \"default\") only");
            }
            JsonNode t = rope.get("rope_theta");
            if (t != null && !t.isNull()) {
                if (!t.isNumber() || !(t.asDouble() > 0)) {
                    throw new MedqaException(ExitCodes.DATA, file + ": " + key + ".rope_theta must be a positive number, got " + t);
                }
                if (root.hasNonNull("rope_theta") && root.path("rope_theta").asDouble() != t.asDouble()) {
                    throw new MedqaException(ExitCodes.DATA, file + ": rope_theta (" + root.path("rope_theta")
                            + ") and " + key + ".rope_theta (" + t + ") disagree");
                }
                theta = t.asDouble();
            }
        }
        return theta;
    }

    private static void refuseIfTrue(Path file, JsonNode root, String key, String why) {
        if (root.path(key).asBoolean(false)) {
            throw new MedqaException(ExitCodes.DATA, file + ": " + key + " is true; " + why);
        }
    }

}
