package io.medqa.model;

import ai.djl.ndarray.NDArray;

import java.util.List;

/**
 * One decoder layer's weights, under their Hugging Face names (prefix {@code model.layers.{i}.}).
 * The projections are replaceable so LoRA can wrap them; the norms are never trained.
 */
public final class Qwen3Layer {

    /** Projection names in checkpoint order; LoRA's target_modules use the same names. */
    public static final List<String> PROJECTIONS =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    final NDArray inputLayernorm;          // (hidden)
    final NDArray postAttentionLayernorm;  // (hidden)
    final NDArray qNorm;                   // (head_dim)
    final NDArray kNorm;                   // (head_dim)
    Projection qProj;                      // (heads * head_dim, hidden)
    Projection kProj;                      // (kv_heads * head_dim, hidden)
    Projection vProj;                      // (kv_heads * head_dim, hidden)
    Projection oProj;                      // (hidden, heads * head_dim)
    Projection gateProj;                   // (intermediate, hidden)
    Projection upProj;                     // (intermediate, hidden)
    Projection downProj;                   // (hidden, intermediate)

    Qwen3Layer(NDArray inputLayernorm, NDArray postAttentionLayernorm, NDArray qNorm, NDArray kNorm,
               NDArray[] projections) {
        this.inputLayernorm = inputLayernorm;
        this.postAttentionLayernorm = postAttentionLayernorm;
        this.qNorm = qNorm;
        this.kNorm = kNorm;
        for (int i = 0; i < projections.length; i++) {
            setProjection(PROJECTIONS.get(i), Projection.dense(projections[i]));
        }
    }

    /** The projection's path inside the layer, as in Hugging Face names: "self_attn.q_proj", "mlp.up_proj". */
    public static String modulePath(String projection) {
        return switch (projection) {
            case "q_proj", "k_proj", "v_proj", "o_proj" -> "self_attn." + projection;
            case "gate_proj", "up_proj", "down_proj" -> "mlp." + projection;
            default -> throw new IllegalArgumentException("unknown projection " + projection);
        };
    }

    public Projection projection(String name) {
        return switch (name) {
            case "q_proj" -> qProj;
            case "k_proj" -> kProj;
            case "v_proj" -> vProj;
            case "o_proj" -> oProj;
            case "gate_proj" -> gateProj;
            case "up_proj" -> upProj;
            case "down_proj" -> downProj;
            default -> throw new IllegalArgumentException("unknown projection " + name);
        };
    }

    public void setProjection(String name, Projection p) {
        switch (name) {
            case "q_proj" -> qProj = p;
            case "k_proj" -> kProj = p;
            case "v_proj" -> vProj = p;
            case "o_proj" -> oProj = p;
            case "gate_proj" -> gateProj = p;
            case "up_proj" -> upProj = p;
            case "down_proj" -> downProj = p;
            default -> throw new IllegalArgumentException("unknown projection " + name);
        }
    }
}
