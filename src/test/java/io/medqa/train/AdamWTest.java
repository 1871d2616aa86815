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
                assertFalse(fallback.multiTensorOps().isFused());
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

    /**
     * Both implementations against torch.optim.AdamW itself, to the bit: the expected parameters are
     * what PyTorch 2.13 gave for {@code AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)}
     * with {@code fused=True} and with {@code foreach=False} (the per-tensor arithmetic), after four
     * steps whose gradients were first scaled by 0.75 in place, as clipping scales them. The two
     * expectations differ in two entries (the fused kernel's rounding order), and AdamW's formula
     * written with plain multiply-adds instead of {@code lerp_}/{@code addcmul_}/{@code addcdiv_}
     * misses six of them, so each implementation must be torch's own.
     */
    @Test
    void eachImplementationEqualsTorchsAdamWToTheBit() {
        float[] init = {0.09211649745702744f, 0.025944357737898827f, -0.08559606969356537f, -0.0850689634680748f,
            0.10097097605466843f, -0.013430722057819366f, -0.006535875145345926f, -0.07187069207429886f,
            0.019538411870598793f, -0.0009483880712650716f, -0.06763436645269394f, -0.03654089197516441f,
            0.04939611256122589f, -0.02097039669752121f, -0.029244793578982353f, -0.0391167551279068f};
        float[][] grads = {
            {0.02779863029718399f, 0.012220252305269241f, -0.0033644933719187975f, -0.00965060107409954f,
                -0.0012966267531737685f, -0.006017656065523624f, 0.0014499856624752283f, -0.0014982715947553515f,
                -0.004373983945697546f, 0.007792337331920862f, -0.0005833946052007377f, -0.020304951816797256f,
                0.014829322695732117f, 0.004940380807965994f, 0.0024921877775341272f, 0.017470313236117363f},
            {-0.02616683579981327f, -0.07323887199163437f, 0.1698046624660492f, -0.017916560173034668f,
                0.19230599701404572f, 0.02879497967660427f, 0.09367965161800385f, -0.24031351506710052f,
                -0.014789359644055367f, 0.08967041224241257f, 0.05481350049376488f, -0.1639118641614914f,
                -0.18153052031993866f, -0.020662859082221985f, -0.052595119923353195f, -0.16977329552173615f},
            {0.8167919516563416f, 0.40964189171791077f, 0.2162347286939621f, 1.089808702468872f,
                0.1730271428823471f, 0.16676710546016693f, -1.1372435092926025f, -0.8208335041999817f,
                -1.7927260398864746f, 0.8771882057189941f, 2.164123296737671f, -0.18553368747234344f,
                0.9906442165374756f, 0.7425893545150757f, 1.2701921463012695f, 1.322719931602478f},
            {-0.005181142129004002f, 0.015632743015885353f, 0.012357580475509167f, 0.014962134882807732f,
                0.004731220658868551f, 0.006070178467780352f, -0.008779260329902172f, -0.0074259196408092976f,
                0.002831610618159175f, -0.014981291256844997f, -0.0030913057271391153f, -0.006040988024324179f,
                -0.019672434777021408f, -0.0013675559312105179f, 0.018703440204262733f, 0.0015049874782562256f}};
        float[] fusedExpected = {0.07075046002864838f, 0.01208788063377142f, -0.09860958904027939f,
            -0.07675373554229736f, 0.08792395889759064f, -0.022433508187532425f, -0.013317665085196495f,
            -0.04020565003156662f, 0.05028121545910835f, -0.03154338523745537f, -0.07684924453496933f,
            -0.001829829066991806f, 0.03668113052845001f, -0.03665648400783539f, -0.0433964841067791f,
            -0.05270605534315109f};
        float[] singleExpected = fusedExpected.clone();
        singleExpected[5] = -0.022433510050177574f;
        singleExpected[11] = -0.0018298299983143806f;
        Engine engine = Devices.engine();
        for (String optim : List.of(AdamW.FUSED, AdamW.PER_TENSOR)) {
            try (NDManager manager = engine.newBaseManager(Device.cpu())) {
                NDArray p = trainable(manager, init, new Shape(init.length));
                try (AdamW adam = new AdamW(List.of(p), 0.9, 0.999, 1e-8, 0.01, optim)) {
                    assertEquals(optim, adam.implementation());
                    for (float[] g : grads) {
                        setGradients(engine, manager, List.of(p), List.<float[]>of(g));
                        adam.step(0.01, 0.75);
                    }
                }
                assertArrayEquals(AdamW.FUSED.equals(optim) ? fusedExpected : singleExpected, p.toFloatArray(), 0f, optim);
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
