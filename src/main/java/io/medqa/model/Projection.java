package io.medqa.model;

import ai.djl.ndarray.NDArray;

/**
 * One of a layer's linear maps (q_proj, k_proj, ..., down_proj): y = x W^T, no bias. The LoRA package
 * replaces a layer's projection with one that adds a low-rank update.
 */
public interface Projection {

    /**
     * @param x (..., in_features) in the compute dtype
     * @param training true in a training step (enables dropout where a projection has it)
     * @return (..., out_features)
     */
    NDArray forward(NDArray x, boolean training);

    /** The frozen base weight, (out_features, in_features). */
    NDArray weight();

    /** y = x W^T through torch's linear, which picks the fused GEMM for the weight's layout. */
    static NDArray linear(NDArray x, NDArray weight) {
        return x.getNDArrayInternal().linear(x, weight, null).singletonOrThrow();
    }

    /** A plain frozen weight. */
    static Projection dense(NDArray weight) {
        return new Projection() {
            @Override
            public NDArray forward(NDArray x, boolean training) {
                return linear(x, weight);
            }

            @Override
            public NDArray weight() {
                return weight;
            }
        };
    }
}
