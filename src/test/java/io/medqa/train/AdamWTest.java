package io.medqa.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.medqa.model.Devices;
import io.medqa.model.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdamW, both implementations, against torch.optim.AdamW's update written out by hand in double precision. */
class AdamWTest {

    @ParameterizedTest
    @ValueSource(strings = {AdamW.FUSED, AdamW.PER_TENSOR})
    void threeStepsMatchHandComputedUpdates(String optim) {
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
            try (AdamW adam = new AdamW(List.of(param), b1, b2, eps, wd, optim)) {
                assertEquals(optim, adam.implementation(), "this libtorch has the fused CPU kernel");
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

    /**
     * The two implementations side by side on matrices of several shapes (one larger than a vector
     * register, one odd-sized), with weight decay, a gradient scale and a learning rate that changes,
     * and a restore from the per-tensor one's state in the middle: within fp32 rounding of each other.
     */
    @Test
    void fusedAndPerTensorAgreeOverStepsAndRestore() {
        Engine engine = Devices.engine();
        Shape[] shapes = {new Shape(8, 64), new Shape(64, 8), new Shape(3, 5), new Shape(1)};
        Random random = new Random(7);
        try (NDManager manager = engine.newBaseManager(Device.cpu())) {
            List<NDArray> a = new ArrayList<>();
            List<NDArray> b = new ArrayList<>();
            for (Shape s : shapes) {
                float[] init = gaussian(random, (int) s.size());
                a.add(trainable(manager, init, s));
                b.add(trainable(manager, init, s));
            }
            try (AdamW fused = new AdamW(a, 0.9, 0.999, 1e-8, 0.01, AdamW.FUSED);
                 AdamW perTensor = new AdamW(b, 0.9, 0.999, 1e-8, 0.01, AdamW.PER_TENSOR)) {
                for (int t = 0; t < 6; t++) {
                    List<float[]> grads = new ArrayList<>();
                    for (Shape s : shapes) {
                        grads.add(gaussian(random, (int) s.size()));
                    }
                    setGradients(engine, manager, a, grads);
                    setGradients(engine, manager, b, grads);
                    double lr = 1e-3 * (t + 1);
                    double gradScale = 1.0 / (1 << (t % 3));
                    fused.step(lr, gradScale);
                    perTensor.step(lr, gradScale);
                    if (t == 2) {
                        Map<String, float[]> state = perTensor.state();
                        fused.restore(state, perTensor.stepCount());
                    }
                }
                for (int i = 0; i < shapes.length; i++) {
                    assertArrayEquals(b.get(i).toFloatArray(), a.get(i).toFloatArray(), 1e-6f, "matrix " + i);
                }
                Map<String, float[]> sa = fused.state();
                Map<String, float[]> sb = perTensor.state();
                for (String key : sb.keySet()) {
                    assertArrayEquals(sb.get(key), sa.get(key), 1e-6f, key);
                }
            }
        }
    }

    /** The one-read loss sum and global gradient norm against the norm written out in double precision. */
    @Test
    void lossSumAndGradNormMatchDoublePrecision() {
        Engine engine = Devices.engine();
        Random random = new Random(11);
        try (NDManager manager = engine.newBaseManager(Device.cpu());
             MultiTensorOps ops = MultiTensorOps.load(manager, ai.djl.ndarray.types.DataType.FLOAT32)) {
            List<NDArray> grads = new ArrayList<>();
            double sq = 0;
            for (int n : new int[] {100, 7, 4096}) {
                float[] g = gaussian(random, n);
                for (float x : g) {
                    sq += (double) x * x;
                }
                grads.add(Tensors.fromHost(manager, g, new Shape(n)));
            }
            NDList losses = new NDList(Tensors.scalar(manager, 1.25f), Tensors.scalar(manager, -0.5f),
                    Tensors.scalar(manager, 2f).toType(ai.djl.ndarray.types.DataType.FLOAT16, false));
            double[] got = ops.lossSumAndGradNorm(losses, grads);
            assertEquals(2.75, got[0], 1e-6);
            assertEquals(Math.sqrt(sq), got[1], 1e-5 * Math.sqrt(sq));
        }
    }

    /** A non-finite gradient gives a non-finite norm, which is how the fp16 loss scaler finds an overflow. */
    @ParameterizedTest
    @ValueSource(floats = {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN})
    void aNonFiniteGradientGivesANonFiniteNorm(float bad) {
        try (NDManager manager = Devices.engine().newBaseManager(Device.cpu());
             MultiTensorOps ops = MultiTensorOps.load(manager, ai.djl.ndarray.types.DataType.FLOAT32)) {
            List<NDArray> grads = List.of(Tensors.fromHost(manager, new float[] {1, 2}, new Shape(2)),
                    Tensors.fromHost(manager, new float[] {3, bad, 4}, new Shape(3)));
            double[] got = ops.lossSumAndGradNorm(new NDList(Tensors.scalar(manager, 1f)), grads);
            assertEquals(1.0, got[0]);
            assertTrue(!Double.isFinite(got[1]), "norm " + got[1]);
            assertFalse(new LossScaler(true, 1024, 2000).update(got[1]), "the scaler skips the step");
        }
    }

    /** Where libtorch lacks the fused ops, the per-tensor update is used (and reported), with the same result. */
    @Test
    void missingFusedOpsFallBackToPerTensor() {
        Engine engine = Devices.engine();
        try (NDManager manager = engine.newBaseManager(Device.cpu())) {
            float[] init = {0.5f, -1f, 2f};
            NDArray a = trainable(manager, init, new Shape(3));
            NDArray b = trainable(manager, init, new Shape(3));
            try (AdamW fallback = new AdamW(List.of(a), 0.9, 0.999, 1e-8, 0.01, AdamW.FUSED, (m, d) -> {
                throw new ai.djl.engine.EngineException("Unknown builtin op: aten::_fused_adamw_");
            });
                 AdamW perTensor = new AdamW(List.of(b), 0.9, 0.999, 1e-8, 0.01, AdamW.PER_TENSOR)) {
                assertEquals(AdamW.PER_TENSOR, fallback.implementation());
                assertEquals(null, fallback.multiTensorOps());
                for (int t = 0; t < 3; t++) {
                    List<float[]> g = List.<float[]>of(new float[] {0.1f * t, -0.3f, 1f});
                    setGradients(engine, manager, List.of(a), g);
                    setGradients(engine, manager, List.of(b), g);
                    fallback.step(0.1, 0.5);
                    perTensor.step(0.1, 0.5);
                }
                assertArrayEquals(b.toFloatArray(), a.toFloatArray(), 0f);
            }
        }
    }

    @Test
    void unknownOptimIsRefused() {
        try (NDManager manager = Devices.engine().newBaseManager(Device.cpu())) {
            NDArray p = manager.ones(new Shape(2));
            assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(p), 0.9, 0.999, 1e-8, 0, "sgd"));
        }
    }

    private static NDArray trainable(NDManager manager, float[] values, Shape shape) {
        NDArray p = Tensors.fromHost(manager, values, shape);
        p.setRequiresGradient(true);
        return p;
    }

    private static void setGradients(Engine engine, NDManager manager, List<NDArray> params, List<float[]> grads) {
        for (NDArray p : params) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
        try (NDManager sub = manager.newSubManager(); GradientCollector gc = engine.newGradientCollector()) {
            NDArray loss = null;
            for (int i = 0; i < params.size(); i++) {
                NDArray term = params.get(i).mul(Tensors.fromHost(sub, grads.get(i), params.get(i).getShape())).sum();
                loss = loss == null ? term : loss.add(term);
            }
            gc.backward(loss);
        }
    }

    private static float[] gaussian(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }
}
