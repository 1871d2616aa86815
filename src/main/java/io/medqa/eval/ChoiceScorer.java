package io.medqa.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.medqa.data.McqSample;
import io.medqa.model.Casts;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Tensors;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * lm-evaluation-harness's multiple_choice scoring: each choice's continuation (" A", " yes", ...) is
 * scored by the sum of its tokens' log-probabilities after the context, and the highest sum is the
 * prediction (metric acc). Tokens are split as the harness's {@code _encode_pair} splits them: the
 * continuation's ids are those of encode(context + continuation) past the length of encode(context).
 * When every continuation of a question is one token, one sequence per question is run and read at
 * its last position; otherwise one sequence per choice.
 */
public final class ChoiceScorer {

    /** A question's context and its choices' continuations, each with its leading space. */
    public record Request(String context, List<String> continuations) {}

    private final Qwen3Model model;
    private final QwenTokenizer tokenizer;
    private final Function<McqSample, Request> requestOf;

    public ChoiceScorer(Qwen3Model model, QwenTokenizer tokenizer, Function<McqSample, Request> requestOf) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.requestOf = requestOf;
    }

    /** One sequence to run and the (position, token) pairs whose log-probabilities are summed per choice. */
    private record Sequence(int[] ids, int question, int[][] positions, int[][] tokens) {}

    /** Per question, the summed log-probability of each choice. */
    public double[][] score(List<McqSample> batch) {
        List<Sequence> sequences = new ArrayList<>();
        double[][] out = new double[batch.size()][];
        for (int q = 0; q < batch.size(); q++) {
            Request r = requestOf.apply(batch.get(q));
            out[q] = new double[r.continuations().size()];
            sequences.addAll(sequences(q, r));
        }
        int length = sequences.stream().mapToInt(s -> s.ids().length).max().orElse(1);
        int rows = sequences.size();
        long[] ids = new long[rows * length];
        Arrays.fill(ids, tokenizer.padId());
        List<long[]> picks = new ArrayList<>(); // {flat position, token, question, choice}
        for (int r = 0; r < rows; r++) {
            Sequence s = sequences.get(r);
            for (int t = 0; t < s.ids().length; t++) {
                ids[r * length + t] = s.ids()[t];
            }
            for (int c = 0; c < s.positions().length; c++) {
                if (s.positions()[c] == null) {
                    continue;
                }
                for (int k = 0; k < s.positions()[c].length; k++) {
                    picks.add(new long[] {(long) r * length + s.positions()[c][k], s.tokens()[c][k], s.question(), c});
                }
            }
        }
        int p = picks.size();
        long[] at = new long[p];
        long[] token = new long[p];
        for (int i = 0; i < p; i++) {
            at[i] = picks.get(i)[0];
            token[i] = picks.get(i)[1];
        }
        int hidden = model.config().hiddenSize();
        float[] logProbs;
        try (NDManager m = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray input = Tensors.fromHost(m, ids, new Shape(rows, length));
            NDArray states = model.forward(input, null, false).reshape((long) rows * length, hidden);
            NDArray picked = states.gather(Tensors.fromHost(m, at, new Shape(p, 1)).broadcast(p, hidden), 0);
            NDArray lp = Casts.atLeastFp32(model.logits(picked)).logSoftmax(1);
            NDArray chosen = lp.gather(Tensors.fromHost(m, token, new Shape(p, 1)), 1);
            logProbs = chosen.toType(DataType.FLOAT32, false).toFloatArray();
        }
        for (int i = 0; i < p; i++) {
            out[(int) picks.get(i)[2]][(int) picks.get(i)[3]] += logProbs[i];
        }
        return out;
    }

    private List<Sequence> sequences(int question, Request r) {
        String context = r.context();
        int n = r.continuations().size();
        // The harness moves trailing whitespace of the context onto the continuation.
        String trimmed = context.stripTrailing();
        String moved = context.substring(trimmed.length());
        int[] contextIds = tokenizer.encode(trimmed);
        int[][] continuation = new int[n][];
        boolean single = true;
        for (int c = 0; c < n; c++) {
            int[] whole = tokenizer.encode(trimmed + moved + r.continuations().get(c));
            continuation[c] = Arrays.copyOfRange(whole, Math.min(contextIds.length, whole.length), whole.length);
            single &= continuation[c].length == 1;
        }
        if (contextIds.length == 0) {
            throw new io.medqa.MedqaException(io.medqa.ExitCodes.DATA, "an empty prompt cannot be scored");
        }
        if (single) {
            int[][] positions = new int[n][];
            int[][] tokens = new int[n][];
            for (int c = 0; c < n; c++) {
                positions[c] = new int[] {contextIds.length - 1};
                tokens[c] = continuation[c];
            }
            return List.of(new Sequence(contextIds, question, positions, tokens));
        }
        List<Sequence> out = new ArrayList<>();
        for (int c = 0; c < n; c++) {
            int[] seq = Arrays.copyOf(contextIds, contextIds.length + continuation[c].length);
            System.arraycopy(continuation[c], 0, seq, contextIds.length, continuation[c].length);
            int[][] positions = new int[n][];
            int[][] tokens = new int[n][];
            positions[c] = new int[continuation[c].length];
            for (int k = 0; k < positions[c].length; k++) {
                positions[c][k] = contextIds.length - 1 + k;
            }
            tokens[c] = continuation[c];
            // The last token is predicted, never input: drop it so the sequence is no longer than needed.
            out.add(new Sequence(Arrays.copyOf(seq, seq.length - 1), question, positions, tokens));
        }
        return out;
    }
}
