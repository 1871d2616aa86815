package io.medqa.bench;

import io.medqa.model.Qwen3Config;

import java.util.List;

/**
 * Model FLOPs of a LoRA step on a frozen base, the numerator of model FLOP utilisation (MFU; PaLM,
 * Chowdhery et al. 2022, appendix B). A matrix product of (m, k) by (k, n) is 2mkn FLOPs; embedding
 * lookups, norms, activations, softmax and the optimizer are not counted. With N the parameters of
 * the layers' projections, V * d the head, N_lora the LoRA matrices, L layers, H * D the query width,
 * s the sequence length:
 * <pre>
 *   forward                 2 N tokens + 2 V d targets + 2 N_lora tokens + 4 L H D s^2 rows
 *   backward, frozen base   2 N tokens + 2 V d targets + 4 N_lora tokens + 8 L H D s^2 rows
 * </pre>
 * The backward of a frozen weight needs the gradient of its input (2 FLOPs per parameter and token)
 * but not of the weight itself, so a frozen base costs 4N per token, not the 6N of full fine-tuning;
 * LoRA's own matrices get both (6 N_lora). Attention's two products (Q K^T and P V) are counted over the
 * full s x s square as PaLM's formula does, not halved for the causal mask; their backward is twice the
 * forward. The head runs at the target positions only (seq_len - 1 per row), as medqa computes it.
 */
public final class FlopCount {

    private FlopCount() {}

    /** Weights of one layer's seven projections. */
    public static long projectionParamsPerLayer(Qwen3Config c) {
        long n = 0;
        for (String p : io.medqa.model.Qwen3Layer.PROJECTIONS) {
            long[] s = c.projectionShape(p);
            n += s[0] * s[1];
        }
        return n;
    }

    /** LoRA parameters of one layer: r * (in + out) per target. */
    public static long loraParamsPerLayer(Qwen3Config c, List<String> targets, int r) {
        long n = 0;
        for (String p : targets) {
            long[] s = c.projectionShape(p);
            n += (long) r * (s[0] + s[1]);
        }
        return n;
    }

    /** FLOPs of one micro-batch forward: tokens = rows * seqLen, {@code headRows} positions through the head. */
    public static double forward(Qwen3Config c, List<String> targets, int r, int rows, int seqLen, long headRows) {
        Terms t = new Terms(c, targets, r, rows, seqLen);
        return 2 * t.n * t.tokens + 2 * t.head * headRows + 2 * t.lora * t.tokens + t.attention;
    }

    /** FLOPs of one training micro-batch (forward and backward), every position but the last a target. */
    public static double trainMicroBatch(Qwen3Config c, List<String> targets, int r, int rows, int seqLen) {
        Terms t = new Terms(c, targets, r, rows, seqLen);
        double headRows = (double) rows * (seqLen - 1);
        return 4 * t.n * t.tokens + 4 * t.head * headRows + 6 * t.lora * t.tokens + 3 * t.attention;
    }

    /** The parameter counts and the attention term of the formula above. */
    private static final class Terms {
        final double tokens;
        final double n;
        final double lora;
        final double head;
        final double attention; // forward only

        Terms(Qwen3Config c, List<String> targets, int r, int rows, int seqLen) {
            double layers = c.numHiddenLayers();
            tokens = (double) rows * seqLen;
            n = layers * projectionParamsPerLayer(c);
            lora = layers * loraParamsPerLayer(c, targets, r);
            head = (double) c.vocabSize() * c.hiddenSize();
            attention = 4 * layers * c.numAttentionHeads() * c.headDim() * (double) seqLen * seqLen * rows;
        }
    }
}
