package io.medqa.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.data.McqSample;
import io.medqa.model.ChatTemplate;
import io.medqa.model.Sampling;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Request bodies, read and checked: every refusal names the field. */
final class Requests {

    static final int MAX_QUESTION_CHARS = 8_000;
    static final int MAX_OPTION_CHARS = 1_000;
    static final int MAX_MESSAGE_CHARS = 32_000;
    static final int MAX_MESSAGES = 64;

    private static final ObjectMapper JSON = new ObjectMapper();

    private Requests() {}

    /** @param maxTokens null: the server's default */
    record Answer(McqSample sample, boolean stream, boolean explain, Integer maxTokens) {}

    record Chat(String model, String prompt, boolean stream, boolean includeUsage, Integer maxTokens, Sampling sampling) {}

    /**
     * How much of an oversized body is read and dropped before the 413 goes out. A server that answers
     * before the client has sent its body, and then closes, resets a connection the client is still
     * writing to: the client then sees the connection drop instead of the 413 (the HTTP/1.1 "lingering
     * close" problem). Past this much, the connection is given up on.
     */
    static final long DRAIN_LIMIT = 8L << 20;

    /** The body, at most {@code limit} bytes (413 past it, whether or not Content-Length says so). */
    static JsonNode readJson(InputStream in, long contentLength, int limit) throws IOException {
        if (contentLength > limit) {
            drain(in, contentLength);
            throw new ApiException(413, null, "the request body is " + contentLength + " bytes; the limit is " + limit);
        }
        byte[] body = in.readNBytes(limit + 1);
        if (body.length > limit) {
            drain(in, DRAIN_LIMIT);
            throw new ApiException(413, null, "the request body is over the limit of " + limit + " bytes");
        }
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            var at = e.getLocation();
            throw new ApiException(400, null, "malformed JSON" + (at == null ? "" : " at line " + at.getLineNr()
                    + ", column " + at.getColumnNr()) + ": " + withoutSource(e.getOriginalMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new ApiException(400, null, "the body must be a JSON object");
        }
        return root;
    }

    /** Reads and drops the rest of a refused body, up to {@link #DRAIN_LIMIT} bytes of it. */
    private static void drain(InputStream in, long expected) throws IOException {
        long left = Math.min(expected, DRAIN_LIMIT);
        byte[] buffer = new byte[64 * 1024];
        while (left > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
            if (n < 0) {
                return;
            }
            left -= n;
        }
    }

    /** Jackson appends where the input came from ("[Source: ...]"), which says nothing to a client. */
    private static String withoutSource(String message) {
        String m = io.medqa.MedqaException.firstLine(message);
        int at = m.indexOf(" (start marker at [Source");
        return at < 0 ? m : m.substring(0, at);
    }

    static Answer answer(JsonNode body) {
        String question = text(body, "question", MAX_QUESTION_CHARS, true);
        JsonNode o = body.get("options");
        List<String> options = new ArrayList<>();
        if (o != null && o.isArray()) {
            for (int i = 0; i < o.size(); i++) {
                options.add(optionText(o.get(i), "options[" + i + "]"));
            }
        } else if (o != null && o.isObject()) {
            for (int i = 0; i < o.size(); i++) {
                String letter = String.valueOf(McqSample.LETTERS.charAt(Math.min(i, McqSample.LETTERS.length() - 1)));
                if (!o.has(letter)) {
                    throw ApiException.badField("options", "keys must be A, B, C, ... without gaps; got "
                            + JSON.valueToTree(iterable(o.fieldNames())));
                }
                options.add(optionText(o.get(letter), "options." + letter));
            }
        } else {
            throw ApiException.badField("options", o == null ? "missing (an array of 2 to 5 strings)"
                    : "must be an array of 2 to 5 strings, or an object {\"A\": ..., \"B\": ...}");
        }
        if (options.size() < 2 || options.size() > McqSample.LETTERS.length()) {
            throw ApiException.badField("options", "give 2 to 5 options, got " + options.size());
        }
        return new Answer(new McqSample("api", question, options, -1, null, null, "api"),
                bool(body, "stream", false), bool(body, "explain", true), maxTokens(body));
    }

    static Chat chat(JsonNode body) {
        String model = body.hasNonNull("model") ? text(body, "model", 256, true) : null;
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiException.badField("messages", "must be a non-empty array of {role, content}");
        }
        if (messages.size() > MAX_MESSAGES) {
            throw ApiException.badField("messages", "at most " + MAX_MESSAGES + " messages, got " + messages.size());
        }
        StringBuilder prompt = new StringBuilder();
        for (int i = 0; i < messages.size(); i++) {
            String where = "messages[" + i + "]";
            JsonNode m = messages.get(i);
            if (!m.isObject()) {
                throw ApiException.badField(where, "must be an object {role, content}");
            }
            String role = m.path("role").asText("");
            if (!Set.of("system", "user", "assistant").contains(role)) {
                throw ApiException.badField(where + ".role", "must be system, user or assistant, got \"" + role + "\"");
            }
            String content = content(m.get("content"), where + ".content");
            prompt.append(ChatTemplate.IM_START).append(role).append('\n').append(content).append(ChatTemplate.IM_END).append('\n');
        }
        if (!"user".equals(messages.get(messages.size() - 1).path("role").asText())) {
            throw ApiException.badField("messages", "the last message must be the user's");
        }
        // Qwen3's template in non-thinking mode: the assistant turn opens with an empty think block.
        prompt.append(ChatTemplate.IM_START).append("assistant\n<think>\n\n</think>\n\n");
        if (body.has("n") && body.get("n").asInt(1) != 1) {
            throw ApiException.badField("n", "only n = 1 is supported");
        }
        double temperature = number(body, "temperature", 0, 0, 2);
        double topP = number(body, "top_p", 1, Double.MIN_VALUE, 1);
        int topK = (int) number(body, "top_k", 0, 0, 1_000_000);
        long seed = body.hasNonNull("seed") ? (long) number(body, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE) : 0;
        JsonNode so = body.get("stream_options");
        boolean includeUsage = so != null && so.isObject() && bool(so, "include_usage", false);
        return new Chat(model, prompt.toString(), bool(body, "stream", false), includeUsage, maxTokens(body),
                new Sampling(temperature, topK, topP, seed));
    }

    private static Integer maxTokens(JsonNode body) {
        String key = body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        if (!body.hasNonNull(key)) {
            return null;
        }
        JsonNode v = body.get(key);
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1) {
            throw ApiException.badField(key, "must be a positive integer");
        }
        return v.asInt();
    }

    private static String content(JsonNode c, String field) {
        String text;
        if (c != null && c.isTextual()) {
            text = c.asText();
        } else if (c != null && c.isArray()) {
            // OpenAI's content parts: only text parts can be answered by a text model.
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < c.size(); i++) {
                JsonNode part = c.get(i);
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.badField(field + "[" + i + "]", "only {\"type\": \"text\", \"text\": ...} parts are supported");
                }
                b.append(part.get("text").asText());
            }
            text = b.toString();
        } else {
            throw ApiException.badField(field, "must be a string or an array of text parts");
        }
        if (text.length() > MAX_MESSAGE_CHARS) {
            throw ApiException.badField(field, "longer than " + MAX_MESSAGE_CHARS + " characters");
        }
        return text;
    }

    private static String optionText(JsonNode v, String field) {
        if (v == null || !v.isTextual() || v.asText().isBlank()) {
            throw ApiException.badField(field, "must be a non-empty string");
        }
        if (v.asText().length() > MAX_OPTION_CHARS) {
            throw ApiException.badField(field, "longer than " + MAX_OPTION_CHARS + " characters");
        }
        return v.asText();
    }

    private static String text(JsonNode body, String field, int maxChars, boolean required) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw ApiException.badField(field, "missing");
            }
            return null;
        }
        if (!v.isTextual() || v.asText().isBlank()) {
            throw ApiException.badField(field, "must be a non-empty string");
        }
        if (v.asText().length() > maxChars) {
            throw ApiException.badField(field, "longer than " + maxChars + " characters");
        }
        return v.asText();
    }

    private static boolean bool(JsonNode body, String field, boolean fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isBoolean()) {
            throw ApiException.badField(field, "must be true or false");
        }
        return v.asBoolean();
    }

    private static double number(JsonNode body, String field, double fallback, double min, double max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
            throw ApiException.badField(field, "must be a number from " + min + " to " + max);
        }
        return v.asDouble();
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
