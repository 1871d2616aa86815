package io.medqa.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.io.HalfFloats;
import io.medqa.io.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Writes small random Qwen3 checkpoints in the real Hugging Face layout: config.json, weights as one
 * model.safetensors or as shards with model.safetensors.index.json, in F32, F16 or BF16, and a
 * byte-level BPE tokenizer.json (every byte a token, no merges) with Qwen3's special tokens. The demo
 * trains one; the tests check the forward pass on them against an independent reference.
 */
public final class TinyQwen3 {

    /** A model shape; {@code headDim} may differ from hidden / heads, as in Qwen3-0.6B. */
    public record Spec(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads,
                       int headDim, boolean tied, double ropeTheta, long seed, double embedStd) {

        public Spec(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim,
                    boolean tied, double ropeTheta, long seed) {
            this(vocab, hidden, intermediate, layers, heads, kvHeads, headDim, tied, ropeTheta, seed, 1.0);
        }

        /** GQA with head_dim != hidden / heads. */
        public static Spec gqa() {
            return new Spec(300, 32, 48, 2, 4, 2, 16, true, 10000.0, 7);
        }

        /** Multi-head attention, untied head, three layers. */
        public static Spec mha() {
            return new Spec(280, 48, 64, 3, 6, 6, 8, false, 1_000_000.0, 11);
        }
    }

    public static final int ENDOFTEXT = 256;
    public static final int IM_START = 257;
    public static final int IM_END = 258;
    public static final int THINK = 259;
    public static final int END_THINK = 260;
    private static final String[] SPECIALS = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyQwen3() {}

    /** The weights, deterministic in the seed; norms near 1, projections scaled by 1/sqrt(fan_in). */
    public static Map<String, float[]> weights(Spec s) {
        Random r = new Random(s.seed());
        Map<String, float[]> w = new LinkedHashMap<>();
        int q = s.heads() * s.headDim();
        int kv = s.kvHeads() * s.headDim();
        w.put("model.embed_tokens.weight", gaussian(r, s.vocab() * s.hidden(), s.embedStd()));
        for (int i = 0; i < s.layers(); i++) {
            String p = "model.layers." + i + ".";
            w.put(p + "input_layernorm.weight", nearOne(r, s.hidden()));
            w.put(p + "self_attn.q_proj.weight", gaussian(r, q * s.hidden(), 1 / Math.sqrt(s.hidden())));
            w.put(p + "self_attn.k_proj.weight", gaussian(r, kv * s.hidden(), 1 / Math.sqrt(s.hidden())));
            w.put(p + "self_attn.v_proj.weight", gaussian(r, kv * s.hidden(), 1 / Math.sqrt(s.hidden())));
            w.put(p + "self_attn.o_proj.weight", gaussian(r, s.hidden() * q, 1 / Math.sqrt(q)));
            w.put(p + "self_attn.q_norm.weight", nearOne(r, s.headDim()));
            w.put(p + "self_attn.k_norm.weight", nearOne(r, s.headDim()));
            w.put(p + "post_attention_layernorm.weight", nearOne(r, s.hidden()));
            w.put(p + "mlp.gate_proj.weight", gaussian(r, s.intermediate() * s.hidden(), 1 / Math.sqrt(s.hidden())));
            w.put(p + "mlp.up_proj.weight", gaussian(r, s.intermediate() * s.hidden(), 1 / Math.sqrt(s.hidden())));
            w.put(p + "mlp.down_proj.weight", gaussian(r, s.hidden() * s.intermediate(), 1 / Math.sqrt(s.intermediate())));
        }
        w.put("model.norm.weight", nearOne(r, s.hidden()));
        // Stored even when tied, as Qwen3-1.7B does, and then equal to the embeddings as there: transformers
        // 4 ties the head to embed_tokens and ignores the stored copy, transformers 5 keeps a stored head
        // that differs, so only an equal copy makes the folder mean the same model to both (and to medqa).
        float[] untied = gaussian(r, s.vocab() * s.hidden(), 1 / Math.sqrt(s.hidden()));
        w.put("lm_head.weight", s.tied() ? w.get("model.embed_tokens.weight").clone() : untied);
        return w;
    }

    public static long[] shapeOf(Spec s, String name) {
        int q = s.heads() * s.headDim();
        int kv = s.kvHeads() * s.headDim();
        String n = name.replaceFirst("^model\\.layers\\.\\d+\\.", "");
        return switch (n) {
            case "model.embed_tokens.weight", "lm_head.weight" -> new long[] {s.vocab(), s.hidden()};
            case "input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight" ->
                    new long[] {s.hidden()};
            case "self_attn.q_proj.weight" -> new long[] {q, s.hidden()};
            case "self_attn.k_proj.weight", "self_attn.v_proj.weight" -> new long[] {kv, s.hidden()};
            case "self_attn.o_proj.weight" -> new long[] {s.hidden(), q};
            case "self_attn.q_norm.weight", "self_attn.k_norm.weight" -> new long[] {s.headDim()};
            case "mlp.gate_proj.weight", "mlp.up_proj.weight" -> new long[] {s.intermediate(), s.hidden()};
            case "mlp.down_proj.weight" -> new long[] {s.hidden(), s.intermediate()};
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** The weights as the checkpoint stores them: each value rounded to {@code dtype}. */
    public static Map<String, float[]> rounded(Map<String, float[]> weights, String dtype) {
        Map<String, float[]> out = new LinkedHashMap<>();
        weights.forEach((k, v) -> {
            float[] c = v.clone();
            for (int i = 0; i < c.length; i++) {
                c[i] = switch (dtype) {
                    case "F16" -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(c[i]));
                    case "BF16" -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(c[i]));
                    default -> c[i];
                };
            }
            out.put(k, c);
        });
        return out;
    }

    /** Writes a complete model folder; {@code shards} > 1 splits the tensors and writes an index. */
    public static Path write(Path dir, Spec s, String dtype, int shards) throws IOException {
        Files.createDirectories(dir);
        writeConfig(dir, s, dtype);
        writeTokenizer(dir);
        Map<String, float[]> w = weights(s);
        List<String> names = new ArrayList<>(w.keySet());
        if (shards <= 1) {
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            names.forEach(n -> writer.add(n, dtype, shapeOf(s, n), w.get(n)));
            writer.write(dir.resolve("model.safetensors"));
            return dir;
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", 0);
        ObjectNode map = index.putObject("weight_map");
        int per = (names.size() + shards - 1) / shards;
        for (int k = 0; k < shards; k++) {
            String file = String.format("model-%05d-of-%05d.safetensors", k + 1, shards);
            SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
            for (String n : names.subList(Math.min(k * per, names.size()), Math.min((k + 1) * per, names.size()))) {
                writer.add(n, dtype, shapeOf(s, n), w.get(n));
                map.put(n, file);
            }
            writer.write(dir.resolve(file));
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.toPrettyString());
        return dir;
    }

    public static void writeConfig(Path dir, Spec s, String dtype) throws IOException {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("Qwen3ForCausalLM");
        c.put("model_type", "qwen3");
        c.put("vocab_size", s.vocab());
        c.put("hidden_size", s.hidden());
        c.put("intermediate_size", s.intermediate());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("head_dim", s.headDim());
        c.put("hidden_act", "silu");
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", s.ropeTheta());
        c.putNull("rope_scaling");
        c.put("max_position_embeddings", 4096);
        c.put("tie_word_embeddings", s.tied());
        c.put("attention_bias", false);
        c.put("use_sliding_window", false);
        c.put("bos_token_id", ENDOFTEXT);
        c.put("eos_token_id", IM_END);
        c.put("torch_dtype", switch (dtype) {
            case "F16" -> "float16";
            case "BF16" -> "bfloat16";
            default -> "float32";
        });
        Files.writeString(dir.resolve("config.json"), c.toPrettyString());
    }

    /** GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to 256 + n. */
    static char[] byteToChar() {
        char[] table = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            table[b] = direct[b] ? (char) b : (char) (256 + n++);
        }
        return table;
    }

    /** tokenizer.json (byte-level BPE: token id = byte value) and tokenizer_config.json. */
    public static void writeTokenizer(Path dir) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < SPECIALS.length; i++) {
            ObjectNode t = added.addObject();
            t.put("id", ENDOFTEXT + i);
            t.put("content", SPECIALS[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        pre.put("trim_offsets", true);
        pre.put("use_regex", true);
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", true);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        char[] table = byteToChar();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(table[b]), b);
        }
        model.putArray("merges");
        Files.writeString(dir.resolve("tokenizer.json"), root.toPrettyString());

        ObjectNode config = JSON.createObjectNode();
        config.put("tokenizer_class", "Qwen2Tokenizer");
        config.put("eos_token", "<|im_end|>");
        config.put("pad_token", "<|endoftext|>");
        config.put("model_max_length", 131072);
        Files.writeString(dir.resolve("tokenizer_config.json"), config.toPrettyString());
    }

    private static float[] gaussian(Random r, int n, double std) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (r.nextGaussian() * std);
        }
        return out;
    }

    private static float[] nearOne(Random r, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (1.0 + 0.2 * r.nextGaussian());
        }
        return out;
    }
}
