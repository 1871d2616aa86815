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
        StringBuilder b = new StringBuilder(INSTRUCTION);
        if (s.context() != null) {
            b.append("\n\nContext: ").append(s.context().strip());
        }
        b.append("\n\nQuestion: ").append(s.question().strip());
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
     * The EleutherAI lm-evaluation-harness prompts (zero-shot, as its task files write them), for
     * comparison with published base-model figures. Texts are used as given: the harness strips only
     * MMLU's question.
     * <ul>
     *   <li>medqa_4options: {@code Question: {sent1}\nA. {ending0}\n...D. {ending3}\nAnswer:}</li>
     *   <li>medmcqa: {@code Question: {question}\nChoices:\nA. {opa}\n...D. {opd}\nAnswer:}</li>
     *   <li>pubmedqa: {@code Abstract: {contexts joined by \n}\nQuestion: {question}\nAnswer:}</li>
     *   <li>mmlu_SUBJECT: the description {@code The following are multiple choice questions (with answers)
     *       about {subject with spaces}.\n\n}, then {@code {question.strip()}\nA. {choices[0]}\n...Answer:}</li>
     * </ul>
     * The continuations scored are {@link #lmEvalChoices}, each after a space (lm-eval's target_delimiter).
     */
    public static String lmEval(McqSample s, McqFormat format) {
        StringBuilder b = new StringBuilder();
        switch (format) {
            case PUBMEDQA -> {
                return "Abstract: " + (s.context() == null ? "" : s.context()) + "\nQuestion: " + s.question() + "\nAnswer:";
            }
            case MMLU -> {
                if (s.subject() != null) {
                    b.append("The following are multiple choice questions (with answers) about ")
                            .append(s.subject().replace('_', ' ')).append(".\n\n");
                }
                b.append(s.question().strip());
            }
            case MEDMCQA -> b.append("Question: ").append(s.question()).append("\nChoices:");
            default -> b.append("Question: ").append(s.question());
        }
        for (int i = 0; i < s.options().size(); i++) {
            b.append('\n').append(McqSample.LETTERS.charAt(i)).append(". ").append(s.options().get(i));
        }
        return b.append("\nAnswer:").toString();
    }

    /** lm-eval's doc_to_choice: the option words for PubMedQA, else the letters A, B, ... */
    public static java.util.List<String> lmEvalChoices(McqSample s, McqFormat format) {
        if (format == McqFormat.PUBMEDQA) {
            return s.options();
        }
        java.util.List<String> letters = new java.util.ArrayList<>();
        for (int i = 0; i < s.options().size(); i++) {
            letters.add(String.valueOf(McqSample.LETTERS.charAt(i)));
        }
        return letters;
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
