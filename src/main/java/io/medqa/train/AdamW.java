package io.medqa.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.medqa.model.Tensors;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW (Loshchilov and Hutter, https://arxiv.org/abs/1711.05101) exactly as torch.optim.AdamW
 * computes it, on fp32 parameters with in-place updates:
 * <pre>
 *   p  <- p * (1 - lr * weight_decay)                     decoupled weight decay
 *   m  <- beta1 * m + (1 - beta1) * g
 *   v  <- beta2 * v + (1 - beta2) * g^2
 *   p  <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * The moments are plain arrays so they can be checkpointed (DJL's own optimizer keeps them private).
 */
public final class AdamW implements AutoCloseable {

    private final List<NDArray> params;
    private final NDManager manager;
    private final NDArray[] m;
    private final NDArray[] v;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private int step;

    public AdamW(List<NDArray> params, double beta1, double beta2, double eps, double weightDecay) {
        this.params = List.copyOf(params);
        this.manager = params.get(0).getManager().newSubManager();
        this.m = new NDArray[params.size()];
        this.v = new NDArray[params.size()];
        for (int i = 0; i < params.size(); i++) {
            m[i] = manager.zeros(params.get(i).getShape(), params.get(i).getDataType());
            v[i] = manager.zeros(params.get(i).getShape(), params.get(i).getDataType());
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /**
     * One update from the parameters' accumulated gradients, each multiplied by {@code gradScale}
     * first (the loss-scale inverse times the clipping coefficient).
     */
    public void step(double lr, double gradScale) {
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (int i = 0; i < params.size(); i++) {
                NDArray p = params.get(i);
                try (NDArray rawGrad = p.getGradient()) {
                    NDArray g = rawGrad.mul(gradScale);
                    m[i].muli(beta1).addi(g.mul(1 - beta1));
                    v[i].muli(beta2).addi(g.square().muli(1 - beta2));
                    NDArray denom = v[i].sqrt().divi(bc2Sqrt).addi(eps);
                    if (weightDecay != 0) {
                        p.muli(1 - lr * weightDecay);
                    }
                    p.subi(m[i].div(denom).muli(lr / bc1));
                }
            }
        }
    }

    public int stepCount() {
        return step;
    }

    /** The moments by parameter index, for checkpoints: "m.{i}" and "v.{i}". */
    public Map<String, float[]> state() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            out.put("m." + i, m[i].toFloatArray());
            out.put("v." + i, v[i].toFloatArray());
        }
        return out;
    }

    public void restore(Map<String, float[]> state, int stepCount) {
        for (int i = 0; i < params.size(); i++) {
            m[i].close();
            v[i].close();
            m[i] = Tensors.fromHost(manager, state.get("m." + i), params.get(i).getShape());
            v[i] = Tensors.fromHost(manager, state.get("v." + i), params.get(i).getShape());
        }
        this.step = stepCount;
    }

    @Override
    public void close() {
        manager.close();
    }
}
