package io.medqa.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * The row layouts, told apart by their columns; a row is a JSONL line or a parquet row (see
 * {@link ParquetRows}). The Hugging Face layouts beyond the first two are parsed in {@link HubLayouts}.
 * <ul>
 *   <li>MedMCQA: question, opa, opb, opc, opd, cop (1-based in the original release, 0-based in the
 *       Hugging Face export, -1 where the label is hidden), exp, subject_name, id.</li>
 *   <li>MedQA (USMLE): question, options {"A": ..., "B": ...} (4 or 5), answer_idx (a letter),
 *       meta_info.</li>
 *   <li>MEDQA_HF, MedQA in the SWAG-like export lm-eval reads: sent1, ending0..ending3, label (0-based).</li>
 *   <li>PUBMEDQA (PQA-L): question, context.contexts (or QUESTION, CONTEXTS), final_decision yes/no/maybe.</li>
 *   <li>MMLU: question, choices (a list), answer (0-based index), subject.</li>
 * </ul>
 */
public enum McqFormat {
    MEDMCQA, MEDQA, MEDQA_HF, PUBMEDQA, MMLU;

    /** What data.format and --format accept besides auto. */
    public static final String NAMES = "medmcqa, medqa, medqa-hf, pubmedqa, mmlu";

    /** The layout a row has, or null when it is none of them. */
    public static McqFormat detect(JsonNode row) {
        if (row.has("opa") && row.has("cop")) {
            return MEDMCQA;
        }
        if (row.has("options") && row.has("answer_idx")) {
            return MEDQA;
        }
        if (row.has("sent1") && row.has("ending0") && row.has("label")) {
            return MEDQA_HF;
        }
        if (row.has("final_decision") && (row.has("question") || row.has("QUESTION"))) {
            return PUBMEDQA;
        }
        if (row.has("question") && row.has("choices") && row.has("answer")) {
            return MMLU;
        }
        return null;
    }

    /** "medqa-hf" for MEDQA_HF: the name in configs and on the command line. */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    /** The layout named {@code name} (as {@link #id()} gives it), or null for "auto". */
    public static McqFormat fromName(String name) {
        for (McqFormat f : values()) {
            if (f.id().equals(name)) {
                return f;
            }
        }
        if (name.equals("auto")) {
            return null;
        }
        throw new io.medqa.MedqaException(io.medqa.ExitCodes.USAGE, "format must be auto, " + NAMES + "; got " + name);
    }

    /** The columns that tell the layouts apart, for "neither" messages. */
    static final String COLUMNS = "MedMCQA (opa..opd, cop), MedQA (options, answer_idx), MedQA-hf (sent1, ending0.., "
            + "label), PubMedQA (question, context, final_decision) nor MMLU (question, choices, answer)";

    /** Thrown with a message that the reader prefixes with FILE:LINE. */
    static final class RowException extends RuntimeException {
        RowException(String message) {
            super(message);
        }
    }

    /**
     * @param copBase 0 or 1 for MedMCQA; ignored for MedQA
     */
    McqSample parse(JsonNode row, int copBase, String source, long line) {
        if (this != MEDMCQA && this != MEDQA) {
            return HubLayouts.parse(this, row, source, line);
        }
        String question = text(row, "question", true);
        if (question.isBlank()) {
            throw new RowException("field question is empty");
        }
        if (this == MEDMCQA) {
            List<String> options = new ArrayList<>();
            for (String key : new String[] {"opa", "opb", "opc", "opd"}) {
                options.add(text(row, key, true));
            }
            JsonNode cop = row.get("cop");
            if (cop == null || !cop.isIntegralNumber()) {
                throw new RowException("field cop is " + (cop == null ? "missing" : "not an integer: " + cop));
            }
            int answer = cop.asInt() - copBase;
            if (answer < 0 || answer >= 4) {
                throw new RowException("cop " + cop.asInt() + " is out of range for " + copBase + "-based answers ("
                        + copBase + ".." + (copBase + 3) + ")" + (cop.asInt() == -1 ? "; the label is hidden" : ""));
            }
            requireTexts(options);
            String id = row.hasNonNull("id") ? row.get("id").asText() : source + ":" + line;
            return new McqSample(id, question, options, answer, blankToNull(text(row, "exp", false)),
                    blankToNull(text(row, "subject_name", false)), source + ":" + line);
        }
        JsonNode opts = row.get("options");
        if (opts == null || !opts.isObject()) {
            throw new RowException("field options is " + (opts == null ? "missing" : "not an object of lettered options"));
        }
        List<String> options = new ArrayList<>();
        for (int i = 0; i < McqSample.LETTERS.length(); i++) {
            String letter = String.valueOf(McqSample.LETTERS.charAt(i));
            if (!opts.has(letter)) {
                break;
            }
            options.add(opts.get(letter).asText());
        }
        if (options.size() < 2 || options.size() != opts.size()) {
            throw new RowException("options must be lettered A, B, C, ... without gaps, got " + opts.size()
                    + " keys " + fieldNames(opts));
        }
        requireTexts(options);
        String letter = text(row, "answer_idx", true).trim();
        int answer = letter.length() == 1 ? McqSample.LETTERS.indexOf(letter.charAt(0)) : -1;
        if (answer < 0 || answer >= options.size()) {
            throw new RowException("answer_idx \"" + letter + "\" is not one of the option letters "
                    + McqSample.LETTERS.substring(0, options.size()));
        }
        String id = row.hasNonNull("id") ? row.get("id").asText() : source + ":" + line;
        return new McqSample(id, question, options, answer, null, blankToNull(text(row, "meta_info", false)),
                source + ":" + line);
    }

    /** A question needs at least two options with text to choose between; one empty option is only warned about. */
    private static void requireTexts(List<String> options) {
        long filled = options.stream().filter(o -> !o.isBlank()).count();
        if (filled < 2) {
            throw new RowException((options.size() - filled) + " of the " + options.size()
                    + " option texts are empty; at least two must have text");
        }
    }

    static String text(JsonNode row, String key, boolean required) {
        JsonNode n = row.get(key);
        if (n == null || n.isNull()) {
            if (required) {
                throw new RowException("field " + key + " is missing");
            }
            return null;
        }
        if (!n.isValueNode()) {
            throw new RowException("field " + key + " is not text");
        }
        return n.asText();
    }

    static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static String fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names.toString();
    }
}
