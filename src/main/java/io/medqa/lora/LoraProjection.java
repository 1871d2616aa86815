package io.medqa.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.norm.Dropout;
import io.medqa.model.Casts;
import io.medqa.model.Projection;

/**
 * y = x W^T + scale * (dropout(x) A^T) B^T, as PEFT's LoRA Linear: W frozen, A (r, in) and B (out, r)
 * kept in fp32. In training they are cast to the compute dtype inside the product (as autocast does)
 * with a differentiable cast ({@link Casts}), so their gradients arrive in fp32; outside training the
 * branch runs in fp32, as PeftModel runs it without autocast, unless {@link #setAutocast} asks for
 * autocast's rounding (the trainer's eval loss). Dropout applies to the LoRA input only, and only in
 * training.
 */
public final class LoraProjection implements Projection {

    private final Projection base;
    final NDArray loraA; // (r, in_features) fp32
    final NDArray loraB; // (out_features, r) fp32
    private final NDArray scale; // 0-d, owned by libtorch: autograd keeps it for the backward of the product
    private final float dropout;
    private volatile boolean enabled = true;
    private volatile boolean autocast;

    LoraProjection(Projection base, NDArray loraA, NDArray loraB, NDArray scale, double dropout) {
        this.base = base;
        this.loraA = loraA;
        this.loraB = loraB;
        this.scale = scale;
        this.dropout = (float) dropout;
    }

    @Override
    public NDArray forward(NDArray x, boolean training) {
        NDArray y = base.forward(x, training);
        if (!enabled) {
            return y;
        }
        if (!training && !autocast) {
            // As PeftModel computes outside autocast (eval, ask, serve): the low-rank branch in the
            // adapter's fp32 on x cast up, added to the fp16 base output in fp32 (type promotion) and
            // rounded to fp16 once. In fp32 both paths are the same ops.
            // (A model in fp64, as the gradient checks use, takes A and B up to fp64 instead.)
            NDArray in = Casts.atLeastFp32(x);
            NDArray a = Casts.to(loraA, in.getDataType());
            NDArray b = Casts.to(loraB, in.getDataType());
            NDArray update = Projection.linear(Projection.linear(in, a), b).mul(scale);
            return Casts.to(y.add(update), y.getDataType());
        }
        // Training (or an evaluation under autocast), as PEFT under torch.autocast: A and B cast to the
        // compute dtype inside the products; dropout in training only.
        NDArray in = training && dropout > 0 ? Dropout.dropout(x, dropout, true).singletonOrThrow() : x;
        NDArray a = Casts.to(loraA, x.getDataType());
        NDArray b = Casts.to(loraB, x.getDataType());
        return y.add(Projection.linear(Projection.linear(in, a), b).mul(scale));
    }

    @Override
    public NDArray weight() {
        return base.weight();
    }

    /** The projection this one wraps, to remove the adapter. */
    public Projection base() {
        return base;
    }

    /**
     * Outside training, computes the branch as under torch.autocast (as in training, without dropout)
     * instead of as PeftModel without autocast: how transformers' Trainer evaluates an fp16 run.
     */
    void setAutocast(boolean autocast) {
        this.autocast = autocast;
    }

    /** Turns the low-rank update off (the base model's output), as PEFT's disable_adapter. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }
}
