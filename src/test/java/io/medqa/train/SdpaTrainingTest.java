package io.medqa.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.medqa.config.TrainConfig;
import io.medqa.data.MicroBatch;
import io.medqa.data.TrainData;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Attention;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.TinyQwen3;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training through attention sdpa, against attention eager on the same fp32 tiny model and batches:
 * the LoRA gradients after one backward agree entry by entry within 1e-6 + 1e-4 * |eager| (the
 * kernels agree to fp32 rounding, ~1e-6 relative, and the backward adds a few roundings more), and
 * a 40-step run with a full garbage collection before every step follows the eager run's losses and
 * gradient norms within 1e-4 relative (over the eager run's first 10 steps), every step with a gradient
 * and no array left behind.
 */
class SdpaTrainingTest {

    @TempDir
    static Path tmp;
    static TinyRun run;
    static TrainConfig config;
    static List<MicroBatch> batches;

    @BeforeAll
    static void data() throws Exception {
        run = new TinyRun(tmp, 64);
        config = run.config("lora.target_modules=[q_proj, k_proj, v_proj, o_proj, down_proj]");
        try (QwenTokenizer tokenizer = QwenTokenizer.load(run.model)) {
            TrainData data = new TrainData(config.data().train(), config.data(), tokenizer, config.train().seed());
            try (TrainData.Epoch e = data.epoch(0, 0)) {
                batches = e.take(16, 4); // 4 micro-batches of 4 rows, right-padded to their longest row
            }
        }
        assertEquals(4, batches.size());
        assertTrue(batches.stream().anyMatch(mb -> mb.length() * mb.rows() > mb.tokens()), "some padding expected");
    }

    /** B non-zero, so that A's gradients are not zero by construction. */
    private static Map<String, float[]> randomAdapter(long seed) {
        Random r = new Random(seed);
        TinyQwen3.Spec s = TinyRun.SPEC;
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < s.layers(); i++) {
            for (String t : config.lora().targetModules()) {
                long[] w = TinyQwen3.shapeOf(s, "model.layers." + i + "." + Qwen3Layer.modulePath(t) + ".weight");
                out.put(LoraAdapter.key(i, t, "lora_A"), gaussian(r, config.lora().r() * (int) w[1]));
                out.put(LoraAdapter.key(i, t, "lora_B"), gaussian(r, (int) w[0] * config.lora().r()));
            }
        }
        return out;
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * 0.2);
        }
        return v;
    }

    private static <T> T withModel(Attention attention, Function<Qwen3Model, T> body) {
        try (Qwen3Model model = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT32)) {
            model.setAttention(attention);
            return body.apply(model);
        }
    }

    /** The LoRA gradients of one backward over two micro-batches, by name. */
    private static Map<String, float[]> gradients(Attention attention) {
        return withModel(attention, model -> {
            try (LoraAdapter lora = LoraAdapter.inject(model, config.lora(), 0, randomAdapter(5))) {
                TrainStep.forwardBackward(model, lora, batches.subList(0, 2), 1.0);
                Map<String, float[]> g = new LinkedHashMap<>();
                for (LoraAdapter.Param p : lora.params()) {
                    try (NDArray grad = p.array().getGradient()) {
                        g.put(p.name(), grad.toFloatArray());
                    }
                }
                return g;
            }
        });
    }

    @Test
    void loraGradientsOfOneBackwardEqualEager() {
        Map<String, float[]> eager = gradients(Attention.EAGER);
        Map<String, float[]> sdpa = gradients(Attention.SDPA);
        assertEquals(eager.keySet(), sdpa.keySet());
        double norm = 0;
        for (String name : eager.keySet()) {
            float[] e = eager.get(name);
            float[] s = sdpa.get(name);
            for (int i = 0; i < e.length; i++) {
                assertEquals(e[i], s[i], 1e-6 + 1e-4 * Math.abs(e[i]), name + "[" + i + "]");
                norm += e[i] * (double) e[i];
            }
        }
        assertTrue(norm > 1e-6, "gradients are all but zero: " + norm);
    }

    /** Losses and gradient norms of {@code steps} AdamW steps, a full collection before each. */
    private static List<double[]> trainUnderGc(Attention attention, int steps) {
        return withModel(attention, model -> {
            try (LoraAdapter lora = LoraAdapter.inject(model, config.lora(), 0, randomAdapter(6));
                 AdamW adam = new AdamW(lora.params().stream().map(LoraAdapter.Param::array).toList(),
                         0.9, 0.999, 1e-8, 0.0)) {
                LossScaler scaler = new LossScaler(false, 1, 1);
                List<double[]> out = new ArrayList<>();
                int arrays = -1;
                for (int step = 0; step < steps; step++) {
                    System.gc(); // frees every unreachable Java-side buffer before the step runs
                    List<MicroBatch> mbs = List.of(batches.get(step % batches.size()));
                    TrainStep.Outcome o = TrainStep.step(model, lora, mbs, scaler, adam, 1e-3, 1.0);
                    assertTrue(o.stepped() && Double.isFinite(o.loss()), attention + " step " + step + ": " + o);
                    assertTrue(o.gradNorm() > 1e-4, attention + " step " + step + " lost its gradient: " + o);
                    out.add(new double[] {o.loss(), o.gradNorm()});
                    int now = model.manager().getManagedArrays().size();
                    if (step == 1) {
                        arrays = now; // after the first steps have grown the RoPE and mask tables
                    } else if (step > 1) {
                        assertEquals(arrays, now, attention + " step " + step + ": arrays left behind");
                    }
                }
                return out;
            }
        });
    }

    @Test
    void manyStepsUnderGcPressureFollowEager() {
        int steps = 40;
        int compared = 10; // eager is the slower of the two on the CPU
        List<double[]> sdpa = trainUnderGc(Attention.SDPA, steps);
        List<double[]> eager = trainUnderGc(Attention.EAGER, compared);
        for (int i = 0; i < compared; i++) {
            assertEquals(eager.get(i)[0], sdpa.get(i)[0], 1e-4 * eager.get(i)[0], "loss at step " + i);
            assertEquals(eager.get(i)[1], sdpa.get(i)[1], 1e-4 * eager.get(i)[1], "grad norm at step " + i);
        }
        assertTrue(sdpa.get(steps - 1)[0] < 0.8 * sdpa.get(0)[0], "the loss did not fall: " + sdpa.get(0)[0] + " -> "
                + sdpa.get(steps - 1)[0]);
    }
}
