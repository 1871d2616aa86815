package io.medqa.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Casts keep gradients where DJL's toType drops them. */
class CastsTest {

    @Test
    void castsKeepTheGraphBothWays() {
        Engine engine = Devices.engine();
        try (NDManager m = engine.newBaseManager(Device.cpu())) {
            NDArray p = m.create(new float[] {1, -2, 3, 0.5f}, new ai.djl.ndarray.types.Shape(2, 2));
            p.setRequiresGradient(true);
            try (GradientCollector gc = engine.newGradientCollector()) {
                NDArray half = Casts.to(p, DataType.FLOAT16);
                assertEquals(DataType.FLOAT16, half.getDataType());
                assertEquals(p.getShape(), half.getShape());
                NDArray back = Casts.to(half.mul(3), DataType.FLOAT32);
                gc.backward(back.square().sum()); // d/dp (3p)^2 = 18p
                assertFalse(p.toType(DataType.FLOAT16, false).hasGradient(), "DJL's toType is still detached");
            }
            assertArrayEquals(new float[] {18, -36, 54, 9}, p.getGradient().toFloatArray(), 1e-3f);
        }
    }
}
