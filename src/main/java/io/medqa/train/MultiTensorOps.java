package io.medqa.train;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import io.medqa.io.TorchScriptArchive;
import io.medqa.model.ScriptModules;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The optimizer's work over all LoRA matrices at once, in libtorch's multi-tensor ops, through a
 * TorchScript module (DJL 0.35.1 exposes none of them):
 * <ul>
 *   <li>{@link #lossSumAndGradNorm}: {@code torch._foreach_norm} of every gradient and the norm of those
 *       norms, as {@code torch.nn.utils.clip_grad_norm_} computes the global norm, with the step's loss
 *       sum in the same result so both come back in one host read;</li>
 *   <li>{@link #adamw}: the gradients scaled in place ({@code torch._foreach_mul_}), the step counters
 *       advanced ({@code torch._foreach_add_}) and {@code torch._fused_adamw_}, the kernel behind
 *       {@code torch.optim.AdamW(fused=True)}.</li>
 * </ul>
 * adamw_torch's form of the module ({@link #loadSingle}) has the same norm and, for the update,
 * torch.optim.AdamW's per-tensor arithmetic in one call ({@link #adamwSingle}).
 * Why: per matrix, the norm is 3 ops and AdamW about 15; with q/k/v/o on Qwen3-1.7B's 28 layers that is
 * 224 matrices and some 4,000 kernel launches per step on a GPU, where a multi-tensor op launches a
 * handful for all of them (CUDA's {@code multi_tensor_apply} packs many tensors per launch). On the CPU
 * the fused kernel makes one vectorized pass per matrix instead of some fifteen.
 *
 * <p>The methods run through DJL's {@code runMethod}, which holds a {@code c10::InferenceMode} guard:
 * autograd records nothing, the parameters and moments (ordinary tensors) are updated in place, and
 * what the module allocates for itself (the norms) are inference tensors, read and freed here.
 */
final class MultiTensorOps implements AutoCloseable {

    /**
     * The methods both forms share: the gradients unscaled in place (GradScaler.unscale_'s multiply by
     * inv_scale, skipped at 1 as a disabled scaler skips it), then the loss sum and the global gradient
     * norm of the unscaled gradients (clip_grad_norm_'s), in one result.
     */
    private static String common(String name) {
        return "class " + name + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: __torch__." + name + ",\n"
                + "    losses: List[Tensor],\n"
                + "    grads: List[Tensor],\n"
                + "    inv_scale: float) -> Tensor:\n"
                + "    return self.loss_sum_and_grad_norm(losses, grads, inv_scale)\n"
                + "  def loss_sum_and_grad_norm(self: __torch__." + name + ",\n"
                + "    losses: List[Tensor],\n"
                + "    grads: List[Tensor],\n"
                + "    inv_scale: float) -> Tensor:\n"
                + "    if inv_scale != 1.:\n"
                + "      torch._foreach_mul_(grads, inv_scale)\n"
                + "    norms = torch._foreach_norm(grads, 2.)\n"
                + "    norm = torch.linalg_vector_norm(torch.stack(norms), 2.)\n"
                + "    loss = torch.sum(torch.stack(losses))\n"
                + "    return torch.stack([loss.float(), norm.float()])\n";
    }

    /** The adamw method's signature: the lists of parameters, gradients and moments, the step, the hyper-parameters. */
    private static String adamwSignature(String name, String step) {
        return "  def adamw(self: __torch__." + name + ",\n"
                + "    params: List[Tensor],\n"
                + "    grads: List[Tensor],\n"
                + "    exp_avgs: List[Tensor],\n"
                + "    exp_avg_sqs: List[Tensor],\n"
                + "    " + step + ",\n"
                + "    grad_scale: float,\n"
                + "    lr: float,\n"
                + "    beta1: float,\n"
                + "    beta2: float,\n"
                + "    weight_decay: float,\n"
                + "    eps: float) -> int:\n";
    }

    /** adamw_torch_fused's module, in TorchScript's source form; see {@link #adamw}. */
    static final String SOURCE = common("MultiTensorOps")
            + adamwSignature("MultiTensorOps", "steps: List[Tensor]")
            // a factor of 1 (no clipping) changes no bit: skipped, as unscaling is at a scale of 1
            + "    if grad_scale != 1.:\n"
            + "      torch._foreach_mul_(grads, grad_scale)\n"
            + "    torch._foreach_add_(steps, 1.)\n"
            + "    torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, annotate(List[Tensor], []), steps,"
            + " lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False,"
            + " maximize=False)\n"
            + "    return len(params)\n";

    /**
     * adamw_torch's module: torch.optim.AdamW's update without fused (its _single_tensor_adam, whose
     * arithmetic its foreach form repeats op for op), per matrix. The bias corrections are computed
     * here, by libtorch's {@code pow} on doubles as Python's {@code **} computes them, not in Java,
     * whose {@code Math.pow} may differ in the last bit.
     */
    static final String SINGLE_SOURCE = common("SingleTensorOps")
            + adamwSignature("SingleTensorOps", "step: float")
            + "    bias_correction1 = 1. - beta1 ** step\n"
            + "    bias_correction2 = 1. - beta2 ** step\n"
            + "    step_size = lr / bias_correction1\n"
            + "    bias_correction2_sqrt = bias_correction2 ** 0.5\n"
            + "    for i in range(len(params)):\n"
            + "      param = params[i]\n"
            + "      grad = grads[i]\n"
            + "      exp_avg = exp_avgs[i]\n"
            + "      exp_avg_sq = exp_avg_sqs[i]\n"
            + "      if grad_scale != 1.:\n"
            + "        grad.mul_(grad_scale)\n"
            + "      if weight_decay != 0.:\n"
            + "        param.mul_(1. - lr * weight_decay)\n"
            + "      exp_avg.lerp_(grad, 1. - beta1)\n"
            + "      exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1. - beta2)\n"
            + "      denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)\n"
            + "      param.addcdiv_(exp_avg, denom, value=-step_size)\n"
            + "    return len(params)\n";

    private final PtSymbolBlock block;

    private final boolean fused;

    private MultiTensorOps(PtSymbolBlock block, boolean fused) {
        this.block = block;
        this.fused = fused;
    }

    /** True for adamw_torch_fused's module, false for adamw_torch's. */
    boolean isFused() {
        return fused;
    }

    /**
     * Loads the module on {@code manager}'s device and runs each method once on a one-element
     * problem of {@code dtype}, so that a libtorch without these ops, or without the fused kernel for
     * this device (the CPU kernel came with PyTorch 2.4), is found here rather than in the middle of
     * an optimizer step.
     *
     * @throws EngineException what libtorch said when compiling or running the module
     */
    static MultiTensorOps load(NDManager manager, DataType dtype) {
        return load(manager, dtype, true);
    }

    /** adamw_torch's module, probed as {@link #load(NDManager, DataType)} probes the fused one. */
    static MultiTensorOps loadSingle(NDManager manager, DataType dtype) {
        return load(manager, dtype, false);
    }

    private static MultiTensorOps load(NDManager manager, DataType dtype, boolean fused) {
        PtSymbolBlock block = ScriptModules.load(manager, fused
                ? TorchScriptArchive.module("multi_tensor_ops", "MultiTensorOps", SOURCE)
                : TorchScriptArchive.module("single_tensor_ops", "SingleTensorOps", SINGLE_SOURCE));
        MultiTensorOps ops = new MultiTensorOps(block, fused);
        try (NDManager probe = manager.newSubManager()) {
            NDArray p = probe.ones(new Shape(1), dtype);
            NDArray g = probe.ones(new Shape(1), dtype);
            NDArray m = probe.zeros(new Shape(1), dtype);
            NDArray v = probe.zeros(new Shape(1), dtype);
            ops.lossSumAndGradNorm(new NDList(m), List.of(g));
            if (fused) {
                NDArray t = probe.zeros(new Shape(), DataType.FLOAT32);
                ops.adamw(List.of(p), List.of(g), List.of(m), List.of(v), List.of(t), 1, 1e-3, 0.9, 0.999, 0, 1e-8);
            } else {
                ops.adamwSingle(List.of(p), List.of(g), List.of(m), List.of(v), 1, 1, 1e-3, 0.9, 0.999, 0, 1e-8);
            }
        } catch (RuntimeException e) {
            block.close();
            throw e;
        }
        return ops;
    }

    /**
     * @param losses 0-d losses, any float type
     * @param grads the gradients, any float type
     * @return {sum of losses, global L2 norm of the gradients}, in one host read
     */
    double[] lossSumAndGradNorm(NDList losses, List<NDArray> grads) {
        return lossSumAndGradNorm(losses, grads, 1);
    }

    /**
     * As {@link #lossSumAndGradNorm(NDList, List)}, the gradients first multiplied in place by
     * {@code invScale} (the loss scale's inverse, as GradScaler computes it: 1 / scale rounded to fp32).
     */
    double[] lossSumAndGradNorm(NDList losses, List<NDArray> grads, double invScale) {
        IValue result = run("loss_sum_and_grad_norm", IValue.listFrom(tensors(losses)), IValue.listFrom(tensors(grads)),
                IValue.from(invScale));
        try (result; NDManager sub = grads.get(0).getManager().newSubManager();
             NDArray both = result.toTensor((PtNDManager) sub)) {
            float[] host = both.toFloatArray();
            return new double[] {host[0], host[1]};
        }
    }

    /**
     * One AdamW step over all matrices, as torch.optim.AdamW(fused=True): each gradient is first
     * multiplied in place by {@code gradScale}, each step counter advanced by one.
     */
    void adamw(List<NDArray> params, List<NDArray> grads, List<NDArray> expAvgs, List<NDArray> expAvgSqs,
               List<NDArray> steps, double gradScale, double lr, double beta1, double beta2, double weightDecay,
               double eps) {
        IValue result = run("adamw", IValue.listFrom(tensors(params)), IValue.listFrom(tensors(grads)),
                IValue.listFrom(tensors(expAvgs)), IValue.listFrom(tensors(expAvgSqs)),
                IValue.listFrom(tensors(steps)), IValue.from(gradScale), IValue.from(lr), IValue.from(beta1),
                IValue.from(beta2), IValue.from(weightDecay), IValue.from(eps));
        result.close();
    }

    /**
     * One AdamW step, matrix after matrix, as torch.optim.AdamW without fused: each gradient first
     * multiplied in place by {@code gradScale}; {@code step} is the step number after this one's
     * increment (1 for the first).
     */
    void adamwSingle(List<NDArray> params, List<NDArray> grads, List<NDArray> expAvgs, List<NDArray> expAvgSqs,
                     int step, double gradScale, double lr, double beta1, double beta2, double weightDecay,
                     double eps) {
        IValue result = run("adamw", IValue.listFrom(tensors(params)), IValue.listFrom(tensors(grads)),
                IValue.listFrom(tensors(expAvgs)), IValue.listFrom(tensors(expAvgSqs)), IValue.from((double) step),
                IValue.from(gradScale), IValue.from(lr), IValue.from(beta1), IValue.from(beta2),
                IValue.from(weightDecay), IValue.from(eps));
        result.close();
    }

    /**
     * Runs {@code body} on handles to the gradients of {@code params} (the gradients themselves, so an
     * in-place op on them changes them) and closes the handles after it.
     */
    static <T> T withGradients(List<NDArray> params, Function<List<NDArray>, T> body) {
        List<NDArray> grads = new ArrayList<>(params.size());
        try {
            for (NDArray p : params) {
                grads.add(p.getGradient());
            }
            return body.apply(grads);
        } finally {
            grads.forEach(NDArray::close);
        }
    }

    /** Runs {@code method} and closes its arguments (the tensors they refer to stay). */
    private IValue run(String method, IValue... args) {
        try {
            return IValueUtils.runMethod(block, method, args);
        } finally {
            for (IValue a : args) {
                a.close();
            }
        }
    }

    private static PtNDArray[] tensors(List<NDArray> arrays) {
        List<PtNDArray> out = new ArrayList<>(arrays.size());
        for (NDArray a : arrays) {
            out.add((PtNDArray) a);
        }
        return out.toArray(new PtNDArray[0]);
    }

    @Override
    public void close() {
        block.close();
    }
}
