package io.medqa.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.model.TinyQwen3;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A random Qwen3 checkpoint at Qwen3's real vocabulary size (151,936) with a Qwen2/Qwen3-style
 * tokenizer.json (NFC, Qwen's split regex, byte-level BPE with 151,643 regular tokens and the special
 * tokens at Qwen3's ids), plus a small MedQA-layout JSONL file of invented questions. The model is
 * small everywhere else (2 layers, hidden 32), so a training step costs milliseconds while the LM head,
 * the logits and the tokenizer have the sizes a user's run has.
 */
public final class RealVocabRun {

    public static final int VOCAB = 151_936;
    public static final int REGULAR_TOKENS = 151_643;
    public static final int ENDOFTEXT = 151_643;
    public static final int IM_START = 151_644;
    public static final int IM_END = 151_645;
    public static final int THINK = 151_667;
    public static final int END_THINK = 151_668;

    public static final TinyQwen3.Spec SPEC = new TinyQwen3.Spec(VOCAB, 32, 64, 2, 4, 2, 16, true, 1_000_000.0, 21, 0.5);

    /** Qwen2's pre-tokenizer split pattern, as its tokenizer.json gives it. */
    static final String QWEN_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final ObjectMapper JSON = new ObjectMapper();

    public final Path model;
    public final Path train;
    public final Path output;

    public RealVocabRun(Path root, int rows) throws IOException {
        this.model = root.resolve("model");
        TinyQwen3.write(model, SPEC, "F32", 1);
        writeTokenizer(model);
        ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("config.json").toFile());
        config.put("bos_token_id", ENDOFTEXT).put("eos_token_id", IM_END);
        Files.writeString(model.resolve("config.json"), config.toPrettyString());
        this.train = root.resolve("medqa.jsonl");
        writeMedqa(train, rows);
        this.output = root.resolve("out");
    }

    /** The issue-style one-step command's settings: MedQA layout, fp32 on the CPU, micro-batch 4. */
    public List<String> overrides(String... extra) {
        List<String> o = new ArrayList<>(List.of(
                "model.path=" + model, "device=cpu", "data.format=medqa", "data.max_samples=8",
                "data.validation=null", "data.train=" + train, "train.precision=fp32",
                "train.micro_batch_size=4", "train.grad_accum_steps=1", "train.lr=0.002", "train.max_steps=1",
                "data.max_seq_len=512", "train.warmup_ratio=0", "lora.r=4", "lora.alpha=8", "lora.dropout=0",
                "output.dir=" + output));
        o.addAll(List.of(extra));
        return o;
    }

    /** GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to 256 + n. */
    static char[] byteToChar() {
        char[] table = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = direct ? (char) b : (char) (256 + n++);
        }
        return table;
    }

    /**
     * Byte tokens 0..255, then every pair of a 65-symbol alphabet (letters, digits, space as 'Ġ', '.',
     * ',', '-') merged, then pair + symbol triples until 151,643 regular tokens; specials after them.
     */
    public static void writeTokenizer(Path dir) throws IOException {
        char[] table = byteToChar();
        StringBuilder alpha = new StringBuilder();
        for (char c = 'a'; c <= 'z'; c++) {
            alpha.append(c);
        }
        for (char c = 'A'; c <= 'Z'; c++) {
            alpha.append(c);
        }
        for (char c = '0'; c <= '9'; c++) {
            alpha.append(c);
        }
        alpha.append(table[' ']).append('.').append(',').append('-');
        String a = alpha.toString();

        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        addSpecial(added, ENDOFTEXT, "<|endoftext|>");
        addSpecial(added, IM_START, "<|im_start|>");
        addSpecial(added, IM_END, "<|im_end|>");
        addSpecial(added, THINK, "<think>");
        addSpecial(added, END_THINK, "</think>");
        root.putObject("normalizer").put("type", "NFC");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode steps = pre.putArray("pretokenizers");
        ObjectNode split = steps.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", QWEN_SPLIT);
        split.put("behavior", "Isolated");
        split.put("invert", false);
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false)
                .put("use_regex", false);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false)
                .put("use_regex", false);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        ArrayNode merges = model.putArray("merges");
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(table[b]), b);
        }
        int id = 256;
        for (int i = 0; i < a.length(); i++) {
            for (int j = 0; j < a.length(); j++) {
                vocab.put("" + a.charAt(i) + a.charAt(j), id++);
                merges.add(a.charAt(i) + " " + a.charAt(j));
            }
        }
        outer:
        for (int i = 0; i < a.length(); i++) {
            for (int j = 0; j < a.length(); j++) {
                for (int k = 0; k < a.length(); k++) {
                    if (id == REGULAR_TOKENS) {
                        break outer;
                    }
                    String pair = "" + a.charAt(i) + a.charAt(j);
                    vocab.put(pair + a.charAt(k), id++);
                    merges.add(pair + " " + a.charAt(k));
                }
            }
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(root));

        ObjectNode config = JSON.createObjectNode();
        config.put("tokenizer_class", "Qwen2Tokenizer");
        config.put("eos_token", "<|im_end|>");
        config.put("pad_token", "<|endoftext|>");
        config.put("model_max_length", 131072);
        Files.writeString(dir.resolve("tokenizer_config.json"), config.toPrettyString());
    }

    private static void addSpecial(ArrayNode added, int id, String content) {
        added.addObject().put("id", id).put("content", content).put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", false).put("special", true);
    }

    private static final String[][] STEMS = {
        {"A 52-year-old man reports three days of burning pain on urination and a fever of 38.6 C.",
            "Most likely organism", "Escherichia coli", "Candida albicans", "Treponema pallidum", "Giardia lamblia"},
        {"A 7-year-old girl has a honey-coloured crust around the nose after a scraped knee last week.",
            "Most likely diagnosis", "Psoriasis", "Impetigo", "Vitiligo", "Melasma"},
        {"A 64-year-old woman on long-term steroids has sudden back pain after lifting a box of books.",
            "Most likely finding", "Renal calculus", "Aortic rupture", "Vertebral compression fracture", "Gout"},
        {"A 30-year-old runner has a resting heart rate of 44 and no symptoms at all during exercise.",
            "Best next step", "Pacemaker", "Reassurance", "Atropine", "Cardioversion"},
        {"A 45-year-old man has a painless, firm testicular mass found on self-examination this morning.",
            "Best first test", "Scrotal ultrasound", "Biopsy through the scrotum", "Urine culture", "Bone scan"},
        {"A 19-year-old has a sore throat, large tender cervical nodes and a spleen felt below the ribs.",
            "Most likely virus", "Influenza", "Rhinovirus", "Epstein-Barr virus", "Measles"},
        {"A 70-year-old woman cannot recall recent events while remote memories and mood are intact.",
            "Earliest brain region", "Cerebellum", "Occipital cortex", "Hippocampus", "Pons"},
        {"A 25-year-old woman has heat intolerance, weight loss, a fine tremor and protruding eyes.",
            "Most likely cause", "Graves disease", "Addison disease", "Cushing disease", "Hypothyroidism"},
    };
    private static final String[] ANSWERS = {"A", "B", "C", "B", "A", "C", "C", "A"};

    /** {@code rows} MedQA-layout rows (question, options A-D, answer_idx, answer), cycling the stems. */
    public static void writeMedqa(Path file, int rows) throws IOException {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < rows; i++) {
            String[] s = STEMS[i % STEMS.length];
            ObjectNode n = JSON.createObjectNode();
            n.put("question", s[0] + " Case " + (i + 1) + ". " + s[1] + "?");
            ObjectNode options = n.putObject("options");
            for (int o = 0; o < 4; o++) {
                options.put(String.valueOf((char) ('A' + o)), s[2 + o]);
            }
            String letter = ANSWERS[i % ANSWERS.length];
            n.put("answer_idx", letter);
            n.put("answer", s[2 + letter.charAt(0) - 'A']);
            n.put("meta_info", "step1");
            out.append(JSON.writeValueAsString(n)).append('\n');
        }
        Files.writeString(file, out.toString());
    }
}
