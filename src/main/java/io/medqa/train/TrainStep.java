package io.medqa.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.medqa.data.MicroBatch;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Model;
import io.medqa.model.Tensors;

import java.util.List;

/**
 * One optimizer step, shared by {@code medqa train}, {@code medqa bench} and the tests: forward and
 * backward over the step's micro-batches, gradients accumulating in the LoRA matrices, then the loss
 * scaler's verdict, clipping, AdamW and zeroed gradients.
 *
 * <p>Each micro-batch contributes (sum of its answer-token NLL) * lossScale / (answer tokens of the whole
 * step), so the accumulated gradient is lossScale times that of the mean over the step's answer tokens.
 */
public final class TrainStep {

    private TrainStep() {}

    /**
     * What one optimizer step did.
     *
     * @param loss mean answer-token NLL of the step
     * @param gradNorm global L2 norm of the unscaled gradients (before clipping)
     * @param lossScale the scale this step's backward ran with
     * @param stepped false when the gradients overflowed and the update was skipped
     */
    public record Outcome(double loss, double gradNorm, double lossScale, boolean stepped) {}

    /**
     * Forward and backward over {@code batches}; when the scaler accepts the gradients, clip them to
     * {@code maxGradNorm} (0: no clipping) and take an AdamW step at {@code lr}; the gradients are zeroed
     * either way. The caller seeds dropout for the step.
     */
    public static Outcome step(Qwen3Model model, LoraAdapter adapter, List<MicroBatch> batches, LossScaler scaler,
                               AdamW optimizer, double lr, double maxGradNorm) {
        double scale = scaler.scale();
        // As GradScaler: inv_scale = 1 / scale in double, rounded to fp32; the gradients are unscaled
        // in place before their norm is taken, then clipped by a second multiply, so that any scale
        // (not only a power of two) gives torch's gradients to the bit.
        double invScale = (float) (1.0 / (float) scale);
        double[] lossAndNorm = forwardBackward(model, adapter, batches, scale, optimizer.multiTensorOps(), invScale);
        int targets = batches.stream().mapToInt(MicroBatch::targetCount).sum();
        double gradNorm = lossAndNorm[1]; // of the unscaled gradients; not finite when they overflowed
        boolean stepped = scaler.update(gradNorm);
        if (stepped) {
            double clip = maxGradNorm > 0 ? clipCoefficient(gradNorm, maxGradNorm) : 1.0;
            optimizer.step(lr, clip);
        }
        zeroGradients(adapter);
        return new Outcome(lossAndNorm[0] / targets, gradNorm, scale, stepped);
    }

    /**
     * torch.nn.utils.clip_grad_norm_'s coefficient min(1, max_norm / (norm + 1e-6)) in the fp32 arithmetic
     * it runs in: the sum rounded to fp32, then, as Tensor.__rtruediv__ divides a number by a tensor, the
     * reciprocal times max_norm, each rounded to fp32. In double the coefficient can differ in its last
     * bit, and so would every clipped gradient.
     */
    static double clipCoefficient(double norm, double maxNorm) {
        float coefficient = (1.0f / ((float) norm + 1e-6f)) * (float) maxNorm;
        return Math.min(1.0f, coefficient);
    }

    /**
     * @return {sum of answer-token NLL over the step, global L2 norm of the (scaled) gradients}, read in
     *     one host sync after the last backward
     */
    public static double[] forwardBackward(Qwen3Model model, LoraAdapter adapter, List<MicroBatch> batches,
                                           double lossScale) {
        return forwardBackward(model, adapter, batches, lossScale, null, 1);
    }

    /**
     * As above; with {@code ops} (the optimizer's module), the gradients are first multiplied in place
     * by {@code invScale} (unscaled, as GradScaler.unscale_ does) and the norm, of the unscaled
     * gradients, is one {@code torch._foreach_norm} over all of them instead of three ops per matrix.
     */
    static double[] forwardBackward(Qwen3Model model, LoraAdapter adapter, List<MicroBatch> batches,
                                    double lossScale, MultiTensorOps ops, double invScale) {
        int targets = batches.stream().mapToInt(MicroBatch::targetCount).sum();
        Engine engine = Devices.engine();
        try (NDManager stepManager = model.manager().newSubManager()) {
            NDList losses = new NDList();
            for (MicroBatch mb : batches) {
                // Every array of the forward (and the graph autograd keeps of it) lives until after
                // backward; the scope frees them all when the micro-batch is done.
                try (NDManager sub = stepManager.newSubManager(); NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    try (GradientCollector collector = engine.newGradientCollector()) {
                        NDArray nll = LossFunctions.answerNll(model, sub, mb, true);
                        // The factor is saved by autograd for the backward of the product: owned by libtorch.
                        collector.backward(nll.mul(Tensors.scalar(sub, lossScale / targets)));
                        NDArray kept = nll.stopGradient();
                        NDScope.unregister(kept);
                        kept.attach(stepManager);
                        losses.add(kept);
                    }
                }
            }
            if (ops != null) {
                List<NDArray> params = adapter.paramsInModelOrder().stream().map(LoraAdapter.Param::array).toList();
                return MultiTensorOps.withGradients(params, grads -> ops.lossSumAndGradNorm(losses, grads, invScale));
            }
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDList squares = new NDList();
                for (LoraAdapter.Param p : adapter.paramsInModelOrder()) {
                    try (NDArray g = p.array().getGradient()) {
                        squares.add(g.square().sum().toType(DataType.FLOAT32, false));
                    }
                }
                NDArray lossSum = NDArrays.stack(losses).sum();
                NDArray sumSq = NDArrays.stack(squares).sum();
                float[] host = NDArrays.stack(new NDList(lossSum, sumSq)).toFloatArray();
                return new double[] {host[0], Math.sqrt(host[1])};
            }
        }
    }

    /** Clears the accumulated gradients of every LoRA matrix (in place, as optimizer.zero_grad()). */
    public static void zeroGradients(LoraAdapter adapter) {
        for (LoraAdapter.Param p : adapter.params()) {
            JniUtils.zeroGrad((PtNDArray) p.array());
        }
    }
}
