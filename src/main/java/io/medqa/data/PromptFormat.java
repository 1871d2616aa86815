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
}
