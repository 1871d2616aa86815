package io.medqa.serve;

import io.medqa.data.McqSample;
import io.medqa.model.Sampling;

import java.util.List;

/**
 * What the server needs of a model. {@link #score} and {@link #generate} run only on the worker thread
 * (DJL's NDManager and NDArrays are not thread-safe); {@link #encode} and {@link #decode} are called from
 * request threads too: the Hugging Face tokenizer behind them is immutable after loading (Rust's
 * {@code Tokenizer::encode(&self)}).
 */
public interface Backend {

    /** Per question, the log-likelihood of each option's letter as the answer. */
    double[][] score(List<McqSample> batch);

    /**
     * Greedy or sampled decoding after {@code prompt}; {@code onToken} sees each new id and returns false to
     * stop at once (client gone, deadline passed).
     *
     * @return the generated ids, the stop token excluded
     */
    Generated generate(int[] prompt, int maxNewTokens, Sampling sampling, TokenListener onToken);

    int[] encode(String text);

    String decode(int[] ids);

    /** Tokens a prompt and its generation may span together. */
    int contextLength();

    /** Ids the scorer feeds for a question (prompt plus "Answer: "), to check the context before queueing. */
    int scoringTokens(McqSample s);

    @FunctionalInterface
    interface TokenListener {
        boolean accept(int id);
    }

    /** @param stopped true when generation ended at a stop token */
    record Generated(int[] ids, boolean stopped) {}
}
