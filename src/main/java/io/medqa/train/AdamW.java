package io.medqa.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.engine.EngineException;
import io.medqa.model.ScriptModules;
import io.medqa.model.Tensors;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

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
 *
 * <p>Two implementations, as transformers' {@code optim} names them, each torch.optim.AdamW's own
 * arithmetic in a TorchScript module ({@link MultiTensorOps}), with the gradient norm from
 * {@code torch._foreach_norm} as {@code clip_grad_norm_} computes it:
 * <ul>
 *   <li>{@code adamw_torch_fused} (the default): {@code torch._fused_adamw_} over all matrices at once,
 *       as {@code AdamW(fused=True)}; where this libtorch lacks it (the CPU kernel came with PyTorch
 *       2.4), adamw_torch is used and a warning says so;</li>
 *   <li>{@code adamw_torch}: {@code AdamW()}'s update matrix after matrix ({@code lerp_},
 *       {@code addcmul_}, {@code addcdiv_}), as torch runs it on the CPU (its foreach form on a GPU does
 *       the same arithmetic).</li>
 * </ul>
 * Both compute the same update in fp32 and differ only in rounding order; each gives torch's own
 * result to the bit on the same libtorch (bench/hf_train_parity.py), and AdamWTest holds each to a
 * double-precision reference.
 */
public final class AdamW implements AutoCloseable {

    /** {@code train.optim} values. */
    public static final String FUSED = "adamw_torch_fused";
    public static final String PER_TENSOR = "adamw_torch";

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdamW.class);

    private final List<NDArray> params;
    private final NDManager manager;
    private final NDArray[] m;
    private final NDArray[] v;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final MultiTensorOps ops;
    private final boolean fused;
    private final NDArray[] steps;
    private int step;

    /** The default implementation, {@value #FUSED}. */
    public AdamW(List<NDArray> params, double beta1, double beta2, double eps, double weightDecay) {
        this(params, beta1, beta2, eps, weightDecay, FUSED);
    }

    /** @param optim {@value #FUSED} or {@value #PER_TENSOR} */
    public AdamW(List<NDArray> params, double beta1, double beta2, double eps, double weightDecay, String optim) {
        this(params, beta1, beta2, eps, weightDecay, optim, MultiTensorOps::load);
    }

    /** @param loader makes the fused ops; an EngineException from it selects the per-tensor form */
    AdamW(List<NDArray> params, double beta1, double beta2, double eps, double weightDecay, String optim,
          BiFunction<NDManager, DataType, MultiTensorOps> loader) {
        if (!FUSED.equals(optim) && !PER_TENSOR.equals(optim)) {
            throw new IllegalArgumentException("optim must be " + FUSED + " or " + PER_TENSOR + ", got " + optim);
        }
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
        MultiTensorOps fusedOps = FUSED.equals(optim) ? loadFused(loader, manager, params.get(0).getDataType()) : null;
        this.ops = fusedOps != null ? fusedOps : loadSingle(manager, params.get(0).getDataType());
        this.fused = fusedOps != null;
        this.steps = new NDArray[fused ? params.size() : 0];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = manager.zeros(new Shape(), DataType.FLOAT32); // torch.optim keeps "step" as an fp32 tensor
        }
    }

    private static MultiTensorOps loadSingle(NDManager manager, DataType dtype) {
        try {
            return MultiTensorOps.loadSingle(manager, dtype);
        } catch (EngineException e) {
            manager.close();
            throw new io.medqa.MedqaException(io.medqa.ExitCodes.UNAVAILABLE, "cannot load the optimizer's "
                    + "TorchScript module (" + PER_TENSOR + "): " + ScriptModules.reason(e.getMessage()), e);
        }
    }

    private static MultiTensorOps loadFused(BiFunction<NDManager, DataType, MultiTensorOps> loader,
                                            NDManager manager, DataType dtype) {
        try {
            return loader.apply(manager, dtype);
        } catch (EngineException e) {
            LOG.warn("{} is not available with this libtorch ({}); using {}", FUSED,
                    ScriptModules.reason(e.getMessage()), PER_TENSOR);
            LOG.debug("libtorch said: {}", ScriptModules.oneLine(e.getMessage()));
            return null;
        }
    }

    /** What this optimizer computes with: {@value #FUSED}, or {@value #PER_TENSOR} as asked or as the fallback. */
    public String implementation() {
        return fused ? FUSED : PER_TENSOR;
    }

    /** The module the update runs in, also for the step's gradient norm ({@link TrainStep}). */
    MultiTensorOps multiTensorOps() {
        return ops;
    }

    /**
     * One update from the parameters' accumulated gradients, each multiplied by {@code gradScale}
     * first (the loss-scale inverse times the clipping coefficient).
     */
    public void step(double lr, double gradScale) {
        step++;
        MultiTensorOps.withGradients(params, grads -> { // scaled in place, then zeroed by the caller
            if (fused) {
                ops.adamw(params, grads, List.of(m), List.of(v), List.of(steps), gradScale, lr, beta1, beta2,
                        weightDecay, eps);
            } else {
                ops.adamwSingle(params, grads, List.of(m), List.of(v), step, gradScale, lr, beta1, beta2,
                        weightDecay, eps);
            }
            return null;
        });
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
        for (int i = 0; i < steps.length; i++) {
            steps[i].close();
            steps[i] = Tensors.fromHost(manager, new float[] {stepCount}, new Shape());
        }
        this.step = stepCount;
    }

    @Override
    public void close() {
        ops.close();
        manager.close();
    }
}
