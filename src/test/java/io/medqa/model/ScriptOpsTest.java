package io.medqa.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one-op TorchScript modules: values and gradients against double precision, fp16 rounding, threads. */
class ScriptOpsTest {

    private static final float[] X = {-6f, -2.5f, -1f, -0.25f, 0f, 0.3f, 1f, 2f, 4.5f, 9f};

    @Test
    void siluAndItsGradientMatchDoublePrecision() {
        Engine engine = Devices.engine();
        try (NDManager m = engine.newBaseManager(Device.cpu())) {
            NDArray x = m.create(X);
            x.setRequiresGradient(true);
            float[] y;
            try (GradientCollector gc = engine.newGradientCollector()) {
                NDArray out = ScriptOps.silu(x);
                y = out.toFloatArray();
                gc.backward(out.sum());
            }
            float[] grad = x.getGradient().toFloatArray();
            for (int i = 0; i < X.length; i++) {
                double s = 1 / (1 + Math.exp(-X[i]));
                assertEquals(X[i] * s, y[i], 1e-6 * Math.max(1, Math.abs(X[i])), "silu(" + X[i] + ")");
                assertEquals(s * (1 + X[i] * (1 - s)), grad[i], 1e-6, "silu'(" + X[i] + ")");
            }
        }
    }

    @Test
    void rsqrtAndItsGradientMatchDoublePrecision() {
        Engine engine = Devices.engine();
        float[] v = {1e-6f, 0.01f, 0.5f, 1f, 3f, 250f};
        try (NDManager m = engine.newBaseManager(Device.cpu())) {
            NDArray x = m.create(v);
            x.setRequiresGradient(true);
            float[] y;
            try (GradientCollector gc = engine.newGradientCollector()) {
                NDArray out = ScriptOps.rsqrt(x);
                y = out.toFloatArray();
                gc.backward(out.sum());
            }
            float[] grad = x.getGradient().toFloatArray();
            for (int i = 0; i < v.length; i++) {
                double r = 1 / Math.sqrt(v[i]);
                assertEquals(r, y[i], 2e-7 * r, "rsqrt(" + v[i] + ")");
                assertEquals(-0.5 * r / v[i], grad[i], 2e-6 * Math.abs(r / v[i]), "rsqrt'(" + v[i] + ")");
            }
        }
    }

    /**
     * In fp16 silu is computed in fp32 and rounded once, as transformers' act_fn; sigmoid(x) * x rounds
     * sigmoid to fp16 first and differs in the last bit for some inputs.
     */
    @Test
    void fp16SiluRoundsOnce() {
        try (NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            NDArray x = m.arange(-8f, 8f, 1f / 64).toType(DataType.FLOAT16, false);
            float[] once = ScriptOps.silu(x.toType(DataType.FLOAT32, false))
                    .toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray();
            float[] fused = ScriptOps.silu(x).toType(DataType.FLOAT32, false).toFloatArray();
            assertArrayEquals(once, fused, 0f);
            float[] twice = Activation.sigmoid(x).mul(x).toType(DataType.FLOAT32, false).toFloatArray();
            int differ = 0;
            for (int i = 0; i < once.length; i++) {
                differ += once[i] != twice[i] ? 1 : 0;
            }
            assertTrue(differ > 0, "sigmoid(x) * x in fp16 was expected to round differently somewhere");
        }
    }

    @Test
    void castsToEveryFloatTypeAndRefusesOthers() {
        try (NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            NDArray x = m.create(new float[] {1.5f, -2f});
            for (DataType t : new DataType[] {DataType.FLOAT16, DataType.FLOAT64}) {
                NDArray y = ScriptOps.cast(x, t);
                assertEquals(t, y.getDataType());
                assertArrayEquals(new float[] {1.5f, -2f}, y.toType(DataType.FLOAT32, false).toFloatArray(), 0f);
            }
            assertTrue(ScriptOps.cast(x, DataType.FLOAT32) == x, "a cast to its own type is the array itself");
            assertThrows(IllegalArgumentException.class, () -> ScriptOps.cast(x, DataType.INT32));
        }
    }

    /** Results belong to the input's manager and go with it. */
    @Test
    void resultsAreFreedWithTheInputsManager() {
        NDArray y;
        try (NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            y = ScriptOps.silu(m.create(new float[] {1, 2}));
            assertTrue(y.getManager() == m);
        }
        assertTrue(y.isReleased());
    }

    /**
     * The modules are shared by every thread: several threads at once (as the server scores), each with
     * its own manager, get their own results, and their managers hold no more arrays after 200 rounds
     * than after the first. (Gradients are one thread's: DJL allows one GradientCollector at a time.)
     */
    @Test
    void concurrentCallersGetTheirOwnResults() throws Exception {
        Engine engine = Devices.engine();
        int threads = 6;
        int rounds = 200;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Void>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                float offset = t;
                Callable<Void> job = () -> {
                    try (NDManager m = engine.newBaseManager(Device.cpu())) {
                        long arraysAfterFirst = -1;
                        for (int r = 0; r < rounds; r++) {
                            try (NDManager step = m.newSubManager()) {
                                float a = offset + r * 1e-3f;
                                NDArray x = step.create(new float[] {a, -a, 0.5f}, new Shape(3));
                                NDArray half = ScriptOps.cast(x, DataType.FLOAT16);
                                float[] h = half.toType(DataType.FLOAT32, false).toFloatArray();
                                float[] y = ScriptOps.cast(ScriptOps.silu(half), DataType.FLOAT32)
                                        .mul(ScriptOps.rsqrt(x.abs().add(1))).toFloatArray();
                                for (int i = 0; i < 3; i++) {
                                    double expect = h[i] / (1 + Math.exp(-h[i])) / Math.sqrt(Math.abs(x.getFloat(i)) + 1);
                                    assertEquals(expect, y[i], 2e-3 * Math.max(1, Math.abs(expect)),
                                            "thread " + offset + " round " + r);
                                }
                            }
                            if (r == 0) {
                                arraysAfterFirst = m.getManagedArrays().size();
                            }
                        }
                        assertEquals(arraysAfterFirst, m.getManagedArrays().size(), "arrays left behind");
                    }
                    return null;
                };
                done.add(pool.submit(job));
            }
            for (Future<Void> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
