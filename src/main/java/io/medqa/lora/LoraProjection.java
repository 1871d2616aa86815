package io.medqa.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.norm.Dropout;
import io.medqa.model.Casts;
import io.medqa.model.Projection;

/**
 * y = x W^T + scale * (dropout(x) A^T) B^T, as PEFT's LoRA Linear: W frozen, A (r, in) and B (out, r)
 * kept in fp32 and cast to the compute dtype inside the product (as autocast does) with a
 * differentiable cast ({@link Casts}), so their gradients arrive in fp32. Dropout applies to the LoRA input only, and only in training.
 */
public final class LoraProjection implements Projection {

    private final Projection base;
    final NDArray loraA; // (r, in_features) fp32
    final NDArray loraB; // (out_features, r) fp32
    private final NDArray scale; // 0-d, owned by libtorch: autograd keeps it for the backward of the product
    private final float dropout;
    private boolean enabled = true;

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

    /** Turns the low-rank update off (the base model's output), as PEFT's disable_adapter. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }
}
