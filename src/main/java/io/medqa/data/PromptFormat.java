package io.medqa.data;

import io.medqa.model.ChatTemplate;

/**
 * The training prompt and target. The user turn holds an instruction, the question and lettered
 * options; the assistant turn (after Qwen3's empty think block) is "Answer: X", then the explanation when
 * the sample has one, then {@code <|im_end|>}.
 */
public final class PromptFormat {

    static final String INSTRUCTION = "Answer the following multiple-choice question about medicine. "
            + "Reply with the letter of the correct option, then explain briefly.";

    private PromptFormat() {}

    public static String userMessage(McqSample s) {
        StringBuilder b = new StringBuilder(INSTRUCTION).append("\n\nQuestion: ").append(s.question().strip());
        for (int i = 0; i < s.options().size(); i++) {
            b.append('\n').append(McqSample.LETTERS.charAt(i)).append(". ").append(s.options().get(i).strip());
        }
        return b.toString();
    }

    /** The chat-formatted prompt, up to where the answer starts. */
    public static String prompt(McqSample s) {
        return ChatTemplate.userTurn(userMessage(s));
    }

    /** "Answer: " : the letter follows; used to score letters and to parse generations. */
    public static final String ANSWER_PREFIX = "Answer: ";

    /** The target text without the closing {@code <|im_end|>} token, which is appended as an id. */
    public static String target(McqSample s) {
        String t = ANSWER_PREFIX + s.answerLetter();
        if (s.explanation() != null) {
            t += "\nExplanation: " + s.explanation().strip();
        }
        return t;
    }

    /**
     * The EleutherAI lm-evaluation-harness prompts, for comparison with published base-model figures:
     * medqa_4options "Question: {q}\nA. ...\nAnswer:" and medmcqa "Question: {q}\nChoices:\nA. ...\nAnswer:";
     * the continuation scored is " A", " B", ...
     */
    public static String lmEval(McqSample s, McqFormat format) {
        StringBuilder b = new StringBuilder("Question: ").append(s.question().strip());
        if (format == McqFormat.MEDMCQA) {
            b.append("\nChoices:");
        }
        for (int i = 0; i < s.options().size(); i++) {
            b.append('\n').append(McqSample.LETTERS.charAt(i)).append(". ").append(s.options().get(i).strip());
        }
        return b.append("\nAnswer:").toString();
    }

    private static final java.util.regex.Pattern ANSWER =
            java.util.regex.Pattern.compile("Answer\\s*[:\\-]?\\s*\\(?([A-E])\\b");
    private static final java.util.regex.Pattern LEADING = java.util.regex.Pattern.compile("^\\s*\\(?([A-E])(?:[).:,\\s]|$)");

    /** The option index a generated answer names ("Answer: C", or a leading "C."), or -1. */
    public static int parseLetter(String text, int options) {
        java.util.regex.Matcher m = ANSWER.matcher(text);
        if (!m.find()) {
            m = LEADING.matcher(text);
            if (!m.find()) {
                return -1;
            }
        }
        int i = m.group(1).charAt(0) - 'A';
        return i < options ? i : -1;
    }
}
