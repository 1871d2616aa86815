package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;

/**
 * Arrays made from host data, in memory that libtorch owns.
 *
 * <p>Why this exists: on the CPU, DJL 0.35.1's {@code manager.create(hostData, shape)} copies the data
 * into a Java direct ByteBuffer and wraps that buffer with {@code torch::from_blob}, which does not
 * own it. The buffer lives only as long as the Java wrapper holds it: once the wrapper is closed (or
 * unreachable), the next garbage collection lets the JDK's reference-handler thread free the memory,
 * while libtorch may still hold the tensor: a view or slice of it, or an operand that autograd saved
 * for the backward pass. DJL's own {@code x.mul(Number)} (and add/sub/div with a number) creates such a
 * scalar and closes it as soon as the op returns, so {@code y = x.mul(0.25)} followed later by
 * {@code backward()} multiplied the gradient by whatever the freed bytes held by then: nothing, the
 * right value or another scalar, depending on whether a collection ran in between. Every array built
 * from host data therefore goes through here and is cloned into a tensor that libtorch allocates and
 * reference-counts, so its lifetime is libtorch's, never the Java heap's. On a GPU, DJL already copies
 * to the device, and that copy is libtorch's.
 *
 * <p>The one exception in medqa is the model weights (SafetensorsFile): memory-mapped, zero-copy on the
 * CPU, and held by the model's manager for the model's whole life.
 */
public final class Tensors {

    private Tensors() {}

    /** {@code data} as a (shape) int64 array owned by libtorch, in {@code manager}. */
    public static NDArray fromHost(NDManager manager, long[] data, Shape shape) {
        return owned(manager.create(data, shape));
    }

    /** {@code data} as a (shape) fp32 array owned by libtorch, in {@code manager}. */
    public static NDArray fromHost(NDManager manager, float[] data, Shape shape) {
        return owned(manager.create(data, shape));
    }

    /** {@code data} as a 1-d int64 array owned by libtorch. */
    public static NDArray fromHost(NDManager manager, long[] data) {
        return fromHost(manager, data, new Shape(data.length));
    }

    /**
     * A 0-d fp64 scalar owned by libtorch. Multiplying an fp32/fp16 tensor by it gives the same result
     * dtype and values as DJL's {@code mul(double)} (a 0-d operand does not promote the other one).
     */
    public static NDArray scalar(NDManager manager, double value) {
        return owned(manager.create(value));
    }

    /**
     * A scalar that outlives any NDScope it is made in, for fields that hold it for an object's life
     * (freed with {@code manager}).
     */
    public static NDArray constant(NDManager manager, double value) {
        NDArray c = scalar(manager, value);
        NDScope.unregister(c);
        return c;
    }

    private static NDArray owned(NDArray hostBacked) {
        if (hostBacked.getDevice().isGpu()) {
            return hostBacked; // created by a copy to the device
        }
        NDArray copy = hostBacked.duplicate(); // torch clone: libtorch allocates and owns the storage
        hostBacked.close();
        return copy;
    }
}
