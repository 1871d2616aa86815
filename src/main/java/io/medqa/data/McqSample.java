package io.medqa.data;

import java.util.List;

/**
 * One multiple-choice question.
 *
 * @param answer 0-based index of the correct option
 * @param explanation null when the source has none
 * @param subject MedMCQA's subject_name or MedQA's meta_info; null when absent
 * @param source "FILE:LINE", for messages and predictions
 */
public record McqSample(String id, String question, List<String> options, int answer, String explanation,
                        String subject, String source) {

    public static final String LETTERS = "ABCDE";

    public McqSample {
        options = List.copyOf(options);
    }

    public char answerLetter() {
        return LETTERS.charAt(answer);
    }
}
