package io.medqa.data;

import io.medqa.model.QwenTokenizer;

import java.util.Arrays;

/**
 * Tokenizes a sample into prompt ids followed by target ids ({@code Answer: X}, the explanation,
 * {@code <|im_end|>}).
 *
 * <p>Policy for samples longer than max_seq_len: with "truncate", the target is cut at max_seq_len
 * (the explanation loses its end) provided the answer part ("Answer: X") still fits whole; otherwise,
 * and always with "skip", the sample is left out. Both outcomes are counted.
 */
public final class SampleEncoder {

    /** A tokenized sample; the loss covers ids[promptLength..]. */
    public record Encoded(int[] ids, int promptLength, String source) {
        public int targetLength() {
            return ids.length - promptLength;
        }
    }

    private final QwenTokenizer tokenizer;
    private final int maxSeqLen;
    private final boolean truncate;
    private final int imEnd;
    private long truncated;
    private long skipped;

    public SampleEncoder(QwenTokenizer tokenizer, int maxSeqLen, String overlong) {
        this.tokenizer = tokenizer;
        this.maxSeqLen = maxSeqLen;
        this.truncate = overlong.equals("truncate");
        int id = tokenizer.specialId("<|im_end|>");
        this.imEnd = id >= 0 ? id : tokenizer.eosId();
    }

    /** The encoded sample, or null when it is too long to keep. */
    public Encoded encode(McqSample s) {
        int[] prompt = tokenizer.encode(PromptFormat.prompt(s));
        int[] target = tokenizer.encode(PromptFormat.target(s));
        int[] ids = Arrays.copyOf(prompt, prompt.length + target.length + 1);
        System.arraycopy(target, 0, ids, prompt.length, target.length);
        ids[ids.length - 1] = imEnd;
        if (ids.length <= maxSeqLen) {
            return new Encoded(ids, prompt.length, s.source());
        }
        int answerPart = tokenizer.encode(PromptFormat.ANSWER_PREFIX + s.answerLetter()).length;
        if (truncate && prompt.length + answerPart <= maxSeqLen) {
            truncated++;
            return new Encoded(Arrays.copyOf(ids, maxSeqLen), prompt.length, s.source());
        }
        skipped++;
        return null;
    }

    public long truncated() {
        return truncated;
    }

    public long skipped() {
        return skipped;
    }
}
