package io.medqa.data;

import java.util.List;

/**
 * One multiple-choice question.
 *
 * @param answer 0-based index of the correct option
 * @param explanation null when the source has none
 * @param subject MedMCQA's subject_name or MedQA's meta_info; null when absent
 * @param source "FILE:LINE", for messages and predictions
 * @param context text the question is asked about (PubMedQA's abstract); null for plain questions
 */
public record McqSample(String id, String question, List<String> options, int answer, String explanation,
                        String subject, String source, String context) {

    public static final String LETTERS = "ABCDE";

    public McqSample {
        options = List.copyOf(options);
    }

    public McqSample(String id, String question, List<String> options, int answer, String explanation,
                     String subject, String source) {
        this(id, question, options, answer, explanation, subject, source, null);
    }

    public char answerLetter() {
        return LETTERS.charAt(answer);
    }
}
