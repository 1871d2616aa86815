package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Autoregressive decoding with a KV cache: one forward over the prompt, then one token per step.
 * The host sees one row of logits per step, which the stop check needs anyway.
 */
public final class Generator {

    /** Why generation ended. */
    public enum Finish { EOS, LENGTH }

    /** @param ids the prompt ids followed by the generated ids (the stop token included when hit) */
    public record Result(int[] ids, int promptTokens, Finish finish) {
        public int[] generated() {
            return java.util.Arrays.copyOfRange(ids, promptTokens, ids.length);
        }
    }

    private final Qwen3Model model;
    private final Set<Integer> stopIds;

    public Generator(Qwen3Model model, Set<Integer> stopIds) {
        this.model = model;
        this.stopIds = Set.copyOf(stopIds);
    }

    /**
     * @param onToken called with each generated id as soon as it is chosen, for streaming
     */
    public Result generate(int[] prompt, int maxNewTokens, Sampling sampling, IntConsumer onToken) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        int limit = model.config().maxPositionEmbeddings();
        if (prompt.length >= limit) {
            throw new MedqaException(ExitCodes.DATA, "the prompt is " + prompt.length
                    + " tokens, over the model's max_position_embeddings (" + limit + ")");
        }
        maxNewTokens = Math.min(maxNewTokens, limit - prompt.length);
        Sampling.Chooser chooser = sampling.chooser();
        int[] ids = java.util.Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int length = prompt.length;
        Finish finish = Finish.LENGTH;
        try (KvCache cache = new KvCache(model.manager(), model.config().numHiddenLayers())) {
            long[] step = toLongs(prompt);
            for (int n = 0; n < maxNewTokens; n++) {
                int next = nextToken(step, cache, sampling, chooser);
                ids[length++] = next;
                onToken.accept(next);
                if (stopIds.contains(next)) {
                    finish = Finish.EOS;
                    break;
                }
                step = new long[] {next};
            }
        }
        return new Result(java.util.Arrays.copyOf(ids, length), prompt.length, finish);
    }

    /**
     * Runs the new tokens through the model and picks the next one. Greedy decoding takes the argmax on
     * the device (first index on ties, as on the host) and reads one id; sampling reads the fp32 logits.
     */
    private int nextToken(long[] tokens, KvCache cache, Sampling sampling, Sampling.Chooser chooser) {
        try (NDManager step = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray input = Tensors.fromHost(step, tokens, new Shape(1, tokens.length));
            NDArray hidden = model.forward(input, cache, false);
            NDArray logits = model.logits(hidden.get(new NDIndex(":, -1, :"))); // (1, vocab)
            if (sampling.greedy()) {
                return (int) logits.argMax().getLong();
            }
            return chooser.next(logits.toType(DataType.FLOAT32, false).toFloatArray());
        }
    }

    private static long[] toLongs(int[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = ids[i];
        }
        return out;
    }
}
