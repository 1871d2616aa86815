package io.medqa.data;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

import static io.medqa.data.McqFormat.blankToNull;
import static io.medqa.data.McqFormat.text;

/**
 * Rows of the Hugging Face Hub's copies beyond MedMCQA and MedQA's own JSONL, with the column names
 * those copies use:
 * <ul>
 *   <li>MedQA-USMLE 4-options-hf (what lm-eval's medqa_4options reads): sent1 the question, ending0..3
 *       (ending4 when five), label the 0-based answer, id.</li>
 *   <li>PubMedQA PQA-L ({@code pubmed_qa} / {@code qiaojin/PubMedQA}, config pqa_labeled): pubid, question,
 *       context {contexts: [...], labels, meshes}, long_answer, final_decision yes/no/maybe; BigBio's
 *       source export has QUESTION, CONTEXTS, LONG_ANSWER instead. Options are yes, no, maybe.</li>
 *   <li>MMLU ({@code cais/mmlu}): question, subject, choices [...], answer (0-based index).</li>
 * </ul>
 */
final class HubLayouts {

    static final List<String> PUBMEDQA_CHOICES = List.of("yes", "no", "maybe");

    private HubLayouts() {}

    static McqSample parse(McqFormat format, JsonNode row, String source, long line) {
        String where = source + ":" + line;
        return switch (format) {
            case MEDQA_HF -> medqaHf(row, where);
            case PUBMEDQA -> pubmedqa(row, where);
            case MMLU -> mmlu(row, where);
            default -> throw new IllegalArgumentException(format.name());
        };
    }

    private static McqSample medqaHf(JsonNode row, String where) {
        String question = nonBlank(row, "sent1");
        List<String> options = new ArrayList<>();
        for (int i = 0; i < McqSample.LETTERS.length() && row.hasNonNull("ending" + i); i++) {
            options.add(text(row, "ending" + i, true));
        }
        if (options.size() < 2) {
            throw new McqFormat.RowException("needs at least ending0 and ending1, got " + options.size() + " endings");
        }
        int answer = index(row, "label", options.size());
        return new McqSample(id(row, where, "id"), question, options, answer, null, null, where);
    }

    private static McqSample pubmedqa(JsonNode row, String where) {
        String question = nonBlank(row, row.has("question") ? "question" : "QUESTION");
        String context = contexts(row);
        String decision = text(row, "final_decision", true).strip();
        int answer = PUBMEDQA_CHOICES.indexOf(decision);
        if (answer < 0) {
            throw new McqFormat.RowException("final_decision \"" + decision + "\" is not yes, no or maybe");
        }
        String longAnswer = text(row, row.has("long_answer") ? "long_answer" : "LONG_ANSWER", false);
        return new McqSample(id(row, where, "pubid", "PUBMED_ID", "id"), question, PUBMEDQA_CHOICES, answer,
                blankToNull(longAnswer), null, where, context);
    }

    /** The abstract's paragraphs joined by newlines, as lm-eval's pubmedqa doc_to_text joins them. */
    private static String contexts(JsonNode row) {
        JsonNode c = row.get("context");
        JsonNode list = c != null && c.isObject() ? c.get("contexts") : c != null && c.isArray() ? c : row.get("CONTEXTS");
        if (c != null && c.isTextual()) {
            return c.asText();
        }
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw new McqFormat.RowException("field context.contexts (or CONTEXTS) is "
                    + (list == null || list.isNull() ? "missing" : "not a non-empty list of texts"));
        }
        List<String> parts = new ArrayList<>();
        for (JsonNode p : list) {
            if (!p.isTextual()) {
                throw new McqFormat.RowException("context.contexts holds a " + p.getNodeType().name().toLowerCase()
                        + ", not text");
            }
            parts.add(p.asText());
        }
        return String.join("\n", parts);
    }

    private static McqSample mmlu(JsonNode row, String where) {
        String question = nonBlank(row, "question");
        JsonNode choices = row.get("choices");
        if (choices == null || !choices.isArray()) {
            throw new McqFormat.RowException("field choices is " + (choices == null || choices.isNull() ? "missing"
                    : "not a list"));
        }
        if (choices.size() < 2 || choices.size() > McqSample.LETTERS.length()) {
            throw new McqFormat.RowException("choices has " + choices.size() + " entries; 2 to "
                    + McqSample.LETTERS.length() + " are supported");
        }
        List<String> options = new ArrayList<>();
        for (JsonNode o : choices) {
            if (!o.isValueNode() || o.isNull()) {
                throw new McqFormat.RowException("choices holds a " + o.getNodeType().name().toLowerCase() + ", not text");
            }
            options.add(o.asText());
        }
        int answer = index(row, "answer", options.size());
        return new McqSample(id(row, where, "id"), question, options, answer, null,
                blankToNull(text(row, "subject", false)), where);
    }

    private static String nonBlank(JsonNode row, String key) {
        String s = text(row, key, true);
        if (s.isBlank()) {
            throw new McqFormat.RowException("field " + key + " is empty");
        }
        return s;
    }

    /** A 0-based answer index; a letter ("B") is taken too, as some JSONL copies of MMLU store it. */
    private static int index(JsonNode row, String key, int options) {
        JsonNode n = row.get(key);
        if (n == null || n.isNull()) {
            throw new McqFormat.RowException("field " + key + " is missing");
        }
        int i;
        if (n.isIntegralNumber()) {
            i = n.asInt();
        } else if (n.isTextual() && n.asText().strip().length() == 1) {
            i = McqSample.LETTERS.indexOf(n.asText().strip().charAt(0));
        } else {
            throw new McqFormat.RowException("field " + key + " is not an answer index: " + n);
        }
        if (i < 0 || i >= options) {
            throw new McqFormat.RowException(key + " " + n + " is out of range for " + options + " options (0.."
                    + (options - 1) + ")");
        }
        return i;
    }

    private static String id(JsonNode row, String where, String... keys) {
        for (String k : keys) {
            if (row.hasNonNull(k)) {
                return row.get(k).asText();
            }
        }
        return where;
    }
}
