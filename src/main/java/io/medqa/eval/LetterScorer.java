package io.medqa.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.model.Casts;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Tensors;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Scores each option of a question by the log-probability of its letter as the answer: one forward
 * pass over prompt + answer prefix, then log-softmax at the last position, read at the letter tokens.
 * The prefix and letter tokens are found by tokenizing "Answer: A" ... "Answer: E" as the training
 * target is tokenized: their common prefix is the prefix, the rest is each letter's token (with
 * Qwen3's tokenizer " A", with a byte tokenizer "A").
 */
public final class LetterScorer {

    private final Qwen3Model model;
    private final QwenTokenizer tokenizer;
    private final Function<McqSample, String> promptOf;
    private final int[] prefix;
    private final int[] letterIds;

    /**
     * @param promptOf the text before the answer (the chat prompt for the trained format)
     * @param answerPrefix "Answer: " for the training format, " " for lm-eval style continuations
     */
    public LetterScorer(Qwen3Model model, QwenTokenizer tokenizer, Function<McqSample, String> promptOf,
                        String answerPrefix) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.promptOf = promptOf;
        int[][] full = new int[McqSample.LETTERS.length()][];
        for (int i = 0; i < full.length; i++) {
            full[i] = tokenizer.encode(answerPrefix + McqSample.LETTERS.charAt(i));
        }
        int common = full[0].length;
        for (int[] f : full) {
            int k = 0;
            while (k < Math.min(common, f.length) && f[k] == full[0][k]) {
                k++;
            }
            common = k;
        }
        this.prefix = Arrays.copyOf(full[0], common);
        this.letterIds = new int[full.length];
        for (int i = 0; i < full.length; i++) {
            if (full[i].length != common + 1) {
                throw new MedqaException(ExitCodes.DATA, "the tokenizer does not make the answer letter "
                        + McqSample.LETTERS.charAt(i) + " a single token after \"" + answerPrefix.strip() + "\"");
            }
            letterIds[i] = full[i][common];
        }
    }

    /** The token ids the model sees for a question: prompt then answer prefix. */
    public int[] inputIds(McqSample s) {
        int[] p = tokenizer.encode(promptOf.apply(s));
        int[] ids = Arrays.copyOf(p, p.length + prefix.length);
        System.arraycopy(prefix, 0, ids, p.length, prefix.length);
        int limit = model.config().maxPositionEmbeddings();
        if (ids.length > limit) {
            // A question this long cannot be scored, and one forward pass over it would exhaust memory.
            throw new MedqaException(ExitCodes.DATA, s.source() + ": the question's prompt is " + ids.length
                    + " tokens, over the model's max_position_embeddings (" + limit + ")");
        }
        return ids;
    }

    public int letterId(int option) {
        return letterIds[option];
    }

    /** Per question, the log-probability of each option's letter (full-vocabulary softmax). */
    public double[][] score(List<McqSample> batch) {
        int rows = batch.size();
        int[][] inputs = new int[rows][];
        for (int r = 0; r < rows; r++) {
            inputs[r] = inputIds(batch.get(r));
        }
        float[] flat = letterLogProbs(model, tokenizer.padId(), inputs, letterIds);
        double[][] out = new double[rows][];
        for (int r = 0; r < rows; r++) {
            out[r] = new double[batch.get(r).options().size()];
            for (int o = 0; o < out[r].length; o++) {
                out[r][o] = flat[r * letterIds.length + o];
            }
        }
        return out;
    }

    /**
     * The scoring pass on token ids, shared with {@code medqa bench}: rows right-padded with
     * {@code padId} into one (rows, longest) batch, one forward pass, log-softmax at each row's last
     * real position, read at {@code letterIds}.
     *
     * @return (rows * letterIds.length) log-probabilities, row-major, in one host read
     */
    public static float[] letterLogProbs(Qwen3Model model, int padId, int[][] inputs, int[] letterIds) {
        int rows = inputs.length;
        int length = 0;
        for (int[] in : inputs) {
            length = Math.max(length, in.length);
        }
        long[] ids = new long[rows * length];
        Arrays.fill(ids, padId);
        long[] last = new long[rows];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < inputs[r].length; t++) {
                ids[r * length + t] = inputs[r][t];
            }
            last[r] = (long) r * length + inputs[r].length - 1;
        }
        int hidden = model.config().hiddenSize();
        long[] letters = new long[letterIds.length];
        for (int i = 0; i < letters.length; i++) {
            letters[i] = letterIds[i];
        }
        try (NDManager m = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray input = Tensors.fromHost(m, ids, new Shape(rows, length));
            NDArray states = model.forward(input, null, false).reshape((long) rows * length, hidden);
            NDArray at = states.gather(Tensors.fromHost(m, last, new Shape(rows, 1)).broadcast(rows, hidden), 0);
            NDArray logProbs = Casts.atLeastFp32(model.logits(at)).logSoftmax(1);
            NDArray picked = logProbs.gather(Tensors.fromHost(m, letters, new Shape(1, letters.length)).broadcast(rows, letters.length), 1);
            return picked.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        }
    }

    /** Accuracy of argmax-letter predictions over the samples, in batches. */
    public double accuracy(List<McqSample> samples, int batchSize) {
        int correct = 0;
        for (int i = 0; i < samples.size(); i += batchSize) {
            List<McqSample> batch = samples.subList(i, Math.min(samples.size(), i + batchSize));
            double[][] scores = score(batch);
            for (int r = 0; r < batch.size(); r++) {
                if (argmax(scores[r]) == batch.get(r).answer()) {
                    correct++;
                }
            }
        }
        return (double) correct / samples.size();
    }

    public static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The training format: chat prompt, then "Answer: ". */
    public static LetterScorer chat(Qwen3Model model, QwenTokenizer tokenizer) {
        return new LetterScorer(model, tokenizer, PromptFormat::prompt, PromptFormat.ANSWER_PREFIX);
    }
}
