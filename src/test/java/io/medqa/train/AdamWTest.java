package io.medqa.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.medqa.model.Devices;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** AdamW against torch.optim.AdamW's update written out by hand in double precision. */
class AdamWTest {

    @Test
    void threeStepsMatchHandComputedUpdates() {
        double lr = 0.1;
        double b1 = 0.9;
        double b2 = 0.99;
        double eps = 1e-8;
        double wd = 0.1;
        float[] start = {0.5f, -1.0f, 2.0f};
        float[][] grads = {{0.1f, -0.2f, 0.3f}, {1.0f, 0.0f, -3.0f}, {-0.5f, 0.25f, 0.5f}};
        double gradScale = 0.5; // as if the loss had been scaled by 2

        double[] p = {start[0], start[1], start[2]};
        double[] m = new double[3];
        double[] v = new double[3];
        for (int t = 1; t <= 3; t++) {
            for (int i = 0; i < 3; i++) {
                double g = grads[t - 1][i] * gradScale;
                p[i] *= 1 - lr * wd;
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                p[i] -= lr / (1 - Math.pow(b1, t)) * m[i] / denom;
            }
        }

        Engine engine = Devices.engine();
        try (NDManager manager = engine.newBaseManager(Device.cpu())) {
            NDArray param = manager.create(start.clone());
            param.setRequiresGradient(true);
            try (AdamW adam = new AdamW(List.of(param), b1, b2, eps, wd)) {
                for (int t = 0; t < 3; t++) {
                    try (GradientCollector gc = engine.newGradientCollector()) {
                        // loss = sum(param * g) has gradient g
                        gc.backward(param.mul(manager.create(grads[t])).sum());
                    }
                    adam.step(lr, gradScale);
                    JniUtils.zeroGrad((PtNDArray) param);
                }
                assertEquals(3, adam.stepCount());
                float[] got = param.toFloatArray();
                float[] want = {(float) p[0], (float) p[1], (float) p[2]};
                assertArrayEquals(want, got, 1e-6f);
            }
        }
    }
}
