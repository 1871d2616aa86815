package io.medqa.testing;

import io.medqa.model.TinyQwen3;
import java.util.Map;

/**
 * An independent Qwen3 forward pass: plain double-precision loops written from the formulas of
 * transformers' modeling_qwen3.py, sharing no code with the model under test. Slow and small on purpose.
 */
public final class ReferenceQwen3 {

    private final TinyQwen3.Spec s;
    private final Map<String, float[]> w;
    private static final double EPS = 1e-6;

    public ReferenceQwen3(TinyQwen3.Spec spec, Map<String, float[]> weights) {
        this.s = spec;
        this.w = weights;
    }

    /** Logits (tokens, vocab) for one sequence, causal, positions 0..tokens-1. */
    public double[][] logits(int[] ids) {
        return logits(ids, w);
    }

    private double[][] logits(int[] ids, Map<String, float[]> w) {
        int t = ids.length;
        int hd = s.hidden();
        int d = s.headDim();
        double[][] x = new double[t][hd];
        float[] embed = w.get("model.embed_tokens.weight");
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < hd; j++) {
                x[i][j] = embed[ids[i] * hd + j];
            }
        }
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            double[][][] q = new double[t][][];
            double[][][] k = new double[t][][];
            double[][][] v = new double[t][][];
            for (int i = 0; i < t; i++) {
                double[] h = rms(x[i], w.get(p + "input_layernorm.weight"));
                q[i] = heads(matvec(w.get(p + "self_attn.q_proj.weight"), h, s.heads() * d), s.heads(), d);
                k[i] = heads(matvec(w.get(p + "self_attn.k_proj.weight"), h, s.kvHeads() * d), s.kvHeads(), d);
                v[i] = heads(matvec(w.get(p + "self_attn.v_proj.weight"), h, s.kvHeads() * d), s.kvHeads(), d);
                for (int a = 0; a < s.heads(); a++) {
                    q[i][a] = rope(rms(q[i][a], w.get(p + "self_attn.q_norm.weight")), i);
                }
                for (int a = 0; a < s.kvHeads(); a++) {
                    k[i][a] = rope(rms(k[i][a], w.get(p + "self_attn.k_norm.weight")), i);
                }
            }
            int group = s.heads() / s.kvHeads();
            for (int i = 0; i < t; i++) {
                double[] concat = new double[s.heads() * d];
                for (int a = 0; a < s.heads(); a++) {
                    int g = a / group;
                    double[] scores = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += q[i][a][c] * k[j][g][c];
                        }
                        scores[j] = dot / Math.sqrt(d);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        for (int c = 0; c < d; c++) {
                            concat[a * d + c] += scores[j] / sum * v[j][g][c];
                        }
                    }
                }
                add(x[i], matvec(w.get(p + "self_attn.o_proj.weight"), concat, hd));
            }
            for (int i = 0; i < t; i++) {
                double[] h = rms(x[i], w.get(p + "post_attention_layernorm.weight"));
                double[] gate = matvec(w.get(p + "mlp.gate_proj.weight"), h, s.intermediate());
                double[] up = matvec(w.get(p + "mlp.up_proj.weight"), h, s.intermediate());
                for (int c = 0; c < gate.length; c++) {
                    gate[c] = gate[c] / (1 + Math.exp(-gate[c])) * up[c];
                }
                add(x[i], matvec(w.get(p + "mlp.down_proj.weight"), gate, hd));
            }
        }
        float[] head = s.tied() ? w.get("model.embed_tokens.weight") : w.get("lm_head.weight");
        double[][] out = new double[t][];
        for (int i = 0; i < t; i++) {
            out[i] = matvec(head, rms(x[i], w.get("model.norm.weight")), s.vocab());
        }
        return out;
    }

    /** Greedy decoding by full recomputation at every step. */
    public int[] greedy(int[] prompt, int newTokens) {
        int[] ids = java.util.Arrays.copyOf(prompt, prompt.length + newTokens);
        for (int n = 0; n < newTokens; n++) {
            double[][] l = logits(java.util.Arrays.copyOf(ids, prompt.length + n));
            double[] last = l[l.length - 1];
            int best = 0;
            for (int i = 1; i < last.length; i++) {
                if (last[i] > last[best]) {
                    best = i;
                }
            }
            ids[prompt.length + n] = best;
        }
        return ids;
    }

    private static double[] rms(double[] x, float[] weight) {
        double ms = 0;
        for (double v : x) {
            ms += v * v;
        }
        ms /= x.length;
        double inv = 1 / Math.sqrt(ms + EPS);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    /** Half-split rotation: pairs (i, i + d/2) rotate by position * theta^(-2i/d). */
    private double[] rope(double[] x, int position) {
        int d = x.length;
        double[] out = new double[d];
        for (int i = 0; i < d / 2; i++) {
            double angle = position * Math.pow(s.ropeTheta(), -2.0 * i / d);
            double c = Math.cos(angle);
            double sn = Math.sin(angle);
            out[i] = x[i] * c - x[i + d / 2] * sn;
            out[i + d / 2] = x[i + d / 2] * c + x[i] * sn;
        }
        return out;
    }

    /** W (rows, in) row-major times x. */
    static double[] matvec(float[] wt, double[] x, int rows) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double acc = 0;
            for (int c = 0; c < x.length; c++) {
                acc += wt[r * x.length + c] * x[c];
            }
            out[r] = acc;
        }
        return out;
    }

    private static double[][] heads(double[] flat, int n, int d) {
        double[][] out = new double[n][d];
        for (int a = 0; a < n; a++) {
            System.arraycopy(flat, a * d, out[a], 0, d);
        }
        return out;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }
}
