package io.medqa.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Arrays made by {@link Tensors} keep their values after their own wrapper is gone and the garbage
 * collector has run: a slice outlives the array it was cut from, and an autograd-saved scalar is still
 * the right factor when backward runs. Repeated with collections in between, which is when memory
 * that Java owned would be freed under libtorch.
 */
class TensorsTest {

    @Test
    void slicesAndSavedScalarsSurviveTheirWrappersAndGarbageCollection() {
        Engine engine = Devices.engine();
        try (NDManager m = engine.newBaseManager(ai.djl.Device.cpu())) {
            for (int round = 0; round < 50; round++) {
                float[] data = new float[64];
                for (int i = 0; i < data.length; i++) {
                    data[i] = i + round;
                }
                NDArray whole = Tensors.fromHost(m, data, new Shape(8, 8));
                NDArray slice = whole.get("2:4, :");
                whole.close();

                NDArray x = Tensors.fromHost(m, new float[] {1, 2, 3}, new Shape(3));
                x.setRequiresGradient(true);
                float[] grad;
                try (GradientCollector gc = engine.newGradientCollector()) {
                    NDArray y = x.mul(Tensors.scalar(m, 0.25 + round)).sum();
                    churn(); // the factor's wrapper is unreachable from here on in the old pattern
                    gc.backward(y);
                    try (NDArray g = x.getGradient()) {
                        grad = g.toFloatArray();
                    }
                }
                churn();
                float[] expected = new float[16];
                for (int i = 0; i < 16; i++) {
                    expected[i] = 16 + i + round;
                }
                assertArrayEquals(expected, slice.toFloatArray(), "round " + round);
                float f = 0.25f + round;
                assertArrayEquals(new float[] {f, f, f}, grad, "round " + round);
                slice.close();
                x.close();
            }
        }
    }

    /** Collections plus a burst of small direct buffers, which reuse whatever a collection freed. */
    private static void churn() {
        System.gc();
        for (int i = 0; i < 200; i++) {
            java.nio.ByteBuffer.allocateDirect(8).putDouble(0, -1.0);
        }
    }
}
