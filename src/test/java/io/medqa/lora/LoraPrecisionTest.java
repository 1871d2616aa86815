package io.medqa.lora;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.medqa.model.Devices;
import io.medqa.model.Projection;
import io.medqa.model.Tensors;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the low-rank branch rounds: outside training as PeftModel without autocast (the branch in fp32
 * on x cast up, added in fp32, rounded to fp16 once), in training as PEFT under autocast (A and B cast
 * to fp16 inside the products). bench/hf_parity.py checks the first against PEFT itself.
 */
class LoraPrecisionTest {

    private static final int IN = 24;
    private static final int OUT = 20;
    private static final int R = 4;

    @Test
    void inferenceRoundsTheSumOnceAsPeftModel() {
        try (NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            Random r = new Random(3);
            NDArray w = Tensors.fromHost(m, gaussian(r, OUT * IN, 0.2), new Shape(OUT, IN)).toType(DataType.FLOAT16, false);
            NDArray a = Tensors.fromHost(m, gaussian(r, R * IN, 0.3), new Shape(R, IN));
            NDArray b = Tensors.fromHost(m, gaussian(r, OUT * R, 0.3), new Shape(OUT, R));
            NDArray x = Tensors.fromHost(m, gaussian(r, 6 * IN, 1.0), new Shape(2, 3, IN)).toType(DataType.FLOAT16, false);
            LoraProjection p = new LoraProjection(Projection.dense(w), a, b, Tensors.constant(m, 1.75), 0.0);

            // PEFT's Linear.forward outside autocast, with DJL's plain casts
            NDArray base = Projection.linear(x, w).toType(DataType.FLOAT32, false);
            NDArray update = Projection.linear(Projection.linear(x.toType(DataType.FLOAT32, false), a), b).mul(1.75);
            float[] peft = base.add(update).toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray();
            float[] inference = p.forward(x, false).toType(DataType.FLOAT32, false).toFloatArray();
            assertArrayEquals(peft, inference, 0f);

            float[] training = p.forward(x, true).toType(DataType.FLOAT32, false).toFloatArray();
            int differ = 0;
            for (int i = 0; i < peft.length; i++) {
                differ += peft[i] != training[i] ? 1 : 0;
                assertTrue(Math.abs(peft[i] - training[i]) <= 1e-2 * Math.max(1, Math.abs(peft[i])), "index " + i);
            }
            assertTrue(differ > 0, "the fp16 training branch was expected to round differently somewhere");

            // an evaluation under autocast rounds as training does, and draws no dropout
            LoraProjection dropped = new LoraProjection(Projection.dense(w), a, b, Tensors.constant(m, 1.75), 0.5);
            dropped.setAutocast(true);
            assertArrayEquals(training, dropped.forward(x, false).toType(DataType.FLOAT32, false).toFloatArray(), 0f);
            dropped.setAutocast(false);
            assertArrayEquals(peft, dropped.forward(x, false).toType(DataType.FLOAT32, false).toFloatArray(), 0f);

            // in fp32 the two are the same ops
            NDArray x32 = x.toType(DataType.FLOAT32, false);
            LoraProjection p32 = new LoraProjection(Projection.dense(w.toType(DataType.FLOAT32, false)), a, b,
                    Tensors.constant(m, 1.75), 0.0);
            assertArrayEquals(p32.forward(x32, true).toFloatArray(), p32.forward(x32, false).toFloatArray(), 0f);
        }
    }

    private static float[] gaussian(Random r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * std);
        }
        return v;
    }
}
