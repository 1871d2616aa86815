package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * dtype changes that keep the autograd graph. DJL 0.35.1's {@code toType} runs torch's {@code to}
 * under a NoGradGuard, so its result is cut from the graph: a cast in the forward pass (fp16
 * activations to fp32 for RMSNorm and softmax, fp32 LoRA matrices to fp16) would stop every gradient
 * behind it. These run torch's {@code to} itself with autograd recording ({@link ScriptOps#cast}): one
 * kernel forward and one backward, as the cast transformers and autocast make.
 */
public final class Casts {

    private Casts() {}

    /** {@code x} as {@code type}, differentiably; {@code x} itself when it already is. */
    public static NDArray to(NDArray x, DataType type) {
        if (x.getDataType() == type) {
            return x;
        }
        return ScriptOps.cast(x, type);
    }

    /** fp16 widened to fp32 (norms, softmax, losses); fp32 and fp64 unchanged. */
    public static NDArray atLeastFp32(NDArray x) {
        return x.getDataType() == DataType.FLOAT16 ? to(x, DataType.FLOAT32) : x;
    }
}
