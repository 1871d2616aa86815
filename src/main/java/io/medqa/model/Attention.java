package io.medqa.model;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.util.Locale;

/**
 * How the attention scores are computed, as transformers' {@code attn_implementation}.
 *
 * <ul>
 *   <li>{@code eager}: written out in {@link Qwen3Model} as transformers' eager_attention_forward: kv
 *       heads repeated, q k^T * scale, causal mask, softmax in fp32, times v; works everywhere, the
 *       probabilities (batch, heads, tokens, keys) are kept for the backward pass.</li>
 *   <li>{@code sdpa}: PyTorch's {@code torch.nn.functional.scaled_dot_product_attention}, which picks a
 *       fused kernel (flash or memory-efficient attention on a GPU, a flash kernel on the CPU) and keeps
 *       no probability matrix. Used for sequences that start at position 0 (training, scoring,
 *       prefill); decoding steps with a KV cache stay eager.</li>
 * </ul>
 */
public enum Attention {
    EAGER, SDPA;

    /**
     * What the commands compute with unless told otherwise (medqa-defaults.yaml's model.attention
     * agrees): sdpa, faster and smaller than eager on the CPU (docs/benchmarks.md), as transformers
     * defaults to it.
     */
    public static final String DEFAULT_NAME = "sdpa";
    public static final Attention DEFAULT = parse(DEFAULT_NAME);

    /** The name in configs and on the command line. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** eager or sdpa (any case). */
    public static Attention parse(String spec) {
        String s = spec == null ? "" : spec.trim().toLowerCase(Locale.ROOT);
        for (Attention a : values()) {
            if (a.id().equals(s)) {
                return a;
            }
        }
        throw new MedqaException(ExitCodes.USAGE, "attention \"" + spec + "\" is not one of eager, sdpa");
    }
}
