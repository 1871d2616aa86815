package io.medqa.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A model folder's tokenizer.json (through DJL's binding of Hugging Face tokenizers) plus the special
 * tokens named in tokenizer_config.json. Special tokens written in the text, such as
 * {@code <|im_start|>}, are matched as single tokens, as in transformers.
 */
public final class QwenTokenizer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> addedTokens;
    private final int eosId;
    private final int padId;

    private QwenTokenizer(HuggingFaceTokenizer tokenizer, Map<String, Integer> addedTokens, int eosId, int padId) {
        this.tokenizer = tokenizer;
        this.addedTokens = addedTokens;
        this.eosId = eosId;
        this.padId = padId;
    }

    public static QwenTokenizer load(Path dir) {
        ModelFolder.require(dir);
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": file not found");
        }
        Map<String, Integer> added = new HashMap<>();
        try {
            JsonNode root = JSON.readTree(file.toFile());
            for (JsonNode t : root.path("added_tokens")) {
                added.put(t.path("content").asText(), t.path("id").asInt());
            }
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": not valid JSON: " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
        HuggingFaceTokenizer hf;
        try {
            // No truncation: DJL's default would cut every text at 512 tokens.
            hf = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": cannot load tokenizer: "
                    + MedqaException.firstLine(e.getMessage()), e);
        }
        Path configFile = dir.resolve("tokenizer_config.json");
        String eos = "<|im_end|>";
        String pad = "<|endoftext|>";
        if (Files.isRegularFile(configFile)) {
            try {
                JsonNode config = JSON.readTree(configFile.toFile());
                eos = tokenText(config.get("eos_token"), eos);
                pad = tokenText(config.get("pad_token"), pad);
            } catch (JsonProcessingException e) {
                hf.close();
                throw new MedqaException(ExitCodes.DATA, configFile + ": not valid JSON: " + Json.problem(e));
            } catch (IOException e) {
                hf.close();
                throw new MedqaException(ExitCodes.NO_INPUT, configFile + ": cannot read: " + e.getMessage());
            }
        }
        QwenTokenizer result = new QwenTokenizer(hf, added, 0, 0);
        int eosId = result.tokenId(eos, configFile, "eos_token");
        int padId = result.tokenId(pad, configFile, "pad_token");
        return new QwenTokenizer(hf, added, eosId, padId);
    }

    /** eos_token and pad_token are either a string or an object with "content". */
    private static String tokenText(JsonNode node, String fallback) {
        if (node == null || node.isNull()) {
            return fallback;
        }
        return node.isTextual() ? node.asText() : node.path("content").asText(fallback);
    }

    private int tokenId(String token, Path configFile, String key) {
        Integer id = addedTokens.get(token);
        if (id != null) {
            return id;
        }
        long[] ids = tokenizer.encode(token).getIds();
        if (ids.length != 1) {
            throw new MedqaException(ExitCodes.DATA, configFile + ": " + key + " \"" + token
                    + "\" is not a single token of tokenizer.json");
        }
        return (int) ids[0];
    }

    public int[] encode(String text) {
        Encoding encoding = tokenizer.encode(text, false, false);
        long[] ids = encoding.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, skipSpecialTokens);
    }

    /** The id of an added (special) token such as {@code <|im_end|>}, or -1 when the vocabulary lacks it. */
    public int specialId(String token) {
        return addedTokens.getOrDefault(token, -1);
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    /** Token ids that end generation: the tokenizer's eos plus those of config.json. */
    public Set<Integer> stopIds(Qwen3Config config) {
        Set<Integer> stops = new LinkedHashSet<>();
        stops.add(eosId);
        stops.addAll(config.eosTokenIds());
        return stops;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
