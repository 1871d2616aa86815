package io.medqa.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.MicroBatch;
import io.medqa.data.TrainData;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.testing.RealVocabRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The LoRA gradients of one micro-batch, as `medqa train` computes them (its config, its data path,
 * TrainStep on an fp32 model), against central differences of the loss computed in double precision,
 * on a model with Qwen3's real vocabulary (151,936) and a Qwen-style tokenizer.
 *
 * <p>Tolerances: each gradient entry within 2e-5 + 2e-3 * |reference| (fp32 accumulation over a
 * 151,936-way softmax vs an fp64 difference quotient with h = 1e-3, whose truncation error is O(h^2));
 * directional derivatives along random directions over all matrices within 1e-3 relative.
 */
class OneStepGradientParityTest {

    @TempDir
    Path tmp;

    @Test
    void loraGradientsOfOneMicroBatchEqualDoublePrecisionDifferences() throws Exception {
        RealVocabRun run = new RealVocabRun(tmp, 8);
        TrainConfig config = ConfigLoader.load(Path.of("configs/qwen3-lora.yaml"), run.overrides());
        MicroBatch mb;
        try (QwenTokenizer tokenizer = QwenTokenizer.load(run.model)) {
            TrainData data = new TrainData(config.data().train(), config.data(), tokenizer, config.train().seed());
            try (TrainData.Epoch e = data.epoch(0, 0)) {
                mb = e.take(config.train().microBatchSize(), config.train().microBatchSize()).get(0);
            }
        }
        assertEquals(4, mb.rows());
        assertTrue(mb.ids().length > 4 * 60, "real tokenizer output expected, got " + mb.ids().length + " ids");
        // B non-zero, so that A's gradients are not zero by construction (a resumed run's state).
        Map<String, float[]> adapter = randomAdapter(config.lora(), 5);

        Map<String, float[]> analytic = new LinkedHashMap<>();
        try (Qwen3Model model = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT32);
             LoraAdapter lora = LoraAdapter.inject(model, config.lora(), 0, adapter)) {
            TrainStep.forwardBackward(model, lora, List.of(mb), 1.0);
            for (LoraAdapter.Param p : lora.params()) {
                try (NDArray g = p.array().getGradient()) {
                    analytic.put(p.name(), g.toFloatArray());
                }
            }
        }

        try (Qwen3Model model64 = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT64)) {
            double h = 1e-3;
            Random pick = new Random(9);
            String[] names = {LoraAdapter.key(0, "q_proj", "lora_A"), LoraAdapter.key(0, "k_proj", "lora_B"),
                    LoraAdapter.key(1, "v_proj", "lora_A"), LoraAdapter.key(1, "o_proj", "lora_B")};
            int checked = 0;
            for (String name : names) {
                for (int k = 0; k < 4; k++) {
                    int entry = pick.nextInt(adapter.get(name).length);
                    Map<String, float[]> plus = moved(adapter, Map.of(name, unit(adapter.get(name).length, entry)), h);
                    Map<String, float[]> minus = moved(adapter, Map.of(name, unit(adapter.get(name).length, entry)), -h);
                    double dx = plus.get(name)[entry] - (double) minus.get(name)[entry];
                    double numeric = (meanNll(model64, config, plus, mb) - meanNll(model64, config, minus, mb)) / dx;
                    double got = analytic.get(name)[entry];
                    assertEquals(numeric, got, 2e-5 + 2e-3 * Math.abs(numeric), name + "[" + entry + "]");
                    checked += Math.abs(numeric) > 1e-4 ? 1 : 0;
                }
            }
            assertTrue(checked >= 8, "too few non-negligible gradient entries checked: " + checked);

            for (int d = 0; d < 2; d++) {
                Random r = new Random(100 + d);
                Map<String, float[]> direction = new LinkedHashMap<>();
                double along = 0;
                for (var e : adapter.entrySet()) {
                    float[] u = new float[e.getValue().length];
                    float[] g = analytic.get(e.getKey());
                    for (int i = 0; i < u.length; i++) {
                        u[i] = r.nextBoolean() ? 1f : -1f;
                        along += g[i] * (double) u[i];
                    }
                    direction.put(e.getKey(), u);
                }
                double hd = 1e-4;
                double numeric = (meanNll(model64, config, moved(adapter, direction, hd), mb)
                        - meanNll(model64, config, moved(adapter, direction, -hd), mb)) / (2 * hd);
                assertEquals(numeric, along, 1e-3 * Math.abs(numeric), "directional derivative " + d);
            }
        }
    }

    /** The step's loss in double precision: mean answer-token NLL of the micro-batch. */
    private static double meanNll(Qwen3Model model, TrainConfig config, Map<String, float[]> adapter, MicroBatch mb) {
        try (LoraAdapter lora = LoraAdapter.inject(model, config.lora(), 0, adapter);
             NDManager m = model.manager().newSubManager()) {
            return LossFunctions.answerNll(model, m, mb, false).toDoubleArray()[0] / mb.targetCount();
        }
    }

    /** adapter + t * direction, rounded to float as the adapter stores it (callers use the stored values). */
    private static Map<String, float[]> moved(Map<String, float[]> adapter, Map<String, float[]> direction, double t) {
        Map<String, float[]> out = new LinkedHashMap<>(adapter);
        direction.forEach((name, u) -> {
            float[] v = adapter.get(name).clone();
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (v[i] + t * u[i]);
            }
            out.put(name, v);
        });
        return out;
    }

    private static float[] unit(int n, int at) {
        float[] u = new float[n];
        u[at] = 1f;
        return u;
    }

    private static Map<String, float[]> randomAdapter(TrainConfig.Lora c, long seed) {
        Random r = new Random(seed);
        var s = RealVocabRun.SPEC;
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < s.layers(); i++) {
            for (String t : c.targetModules()) {
                long[] w = io.medqa.model.TinyQwen3.shapeOf(s, "model.layers." + i + "."
                        + io.medqa.model.Qwen3Layer.modulePath(t) + ".weight");
                out.put(LoraAdapter.key(i, t, "lora_A"), gaussian(r, c.r() * (int) w[1], 0.3));
                out.put(LoraAdapter.key(i, t, "lora_B"), gaussian(r, (int) w[0] * c.r(), 0.3));
            }
        }
        return out;
    }

    private static float[] gaussian(Random r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * std);
        }
        return v;
    }
}
