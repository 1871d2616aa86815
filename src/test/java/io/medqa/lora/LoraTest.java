package io.medqa.lora;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.medqa.config.TrainConfig;
import io.medqa.data.MicroBatch;
import io.medqa.data.SampleEncoder;
import io.medqa.io.SafetensorsWriter;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Qwen3Model;
import io.medqa.testing.Arrays2;
import io.medqa.model.TinyQwen3;
import io.medqa.train.LossFunctions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTest {

    @TempDir
    Path tmp;

    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.gqa();
    static final List<String> ALL = Qwen3Layer.PROJECTIONS;

    static TrainConfig.Lora lora(List<String> targets, boolean rslora) {
        return new TrainConfig.Lora(4, 8, 0.0, targets, rslora);
    }

    /** Random A and B (B non-zero, unlike PEFT's init, so the update shows). */
    static Map<String, float[]> randomAdapter(TinyQwen3.Spec s, TrainConfig.Lora c, long seed) {
        Random r = new Random(seed);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < s.layers(); i++) {
            for (String t : c.targetModules()) {
                long[] w = TinyQwen3.shapeOf(s, "model.layers." + i + "." + Qwen3Layer.modulePath(t) + ".weight");
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

    /** W + scale * B A in double, row-major (out, in). */
    static float[] merged(float[] w, float[] a, float[] b, int out, int in, int r, double scale) {
        float[] m = new float[w.length];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int k = 0; k < r; k++) {
                    acc += (double) b[o * r + k] * a[k * in + i];
                }
                m[o * in + i] = (float) (w[o * in + i] + scale * acc);
            }
        }
        return m;
    }

    private float[] logits(Qwen3Model model, int[] seq) {
        return io.medqa.model.ForwardParityTestAccess.logits(model, new int[][] {seq});
    }

    private void assertLoraEqualsMerged(TrainConfig.Lora c) throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        Map<String, float[]> adapter = randomAdapter(SPEC, c, 9);
        // the merged checkpoint, computed independently of the LoRA code
        Map<String, float[]> weights = TinyQwen3.weights(SPEC);
        SafetensorsWriter writer = new SafetensorsWriter();
        for (var e : weights.entrySet()) {
            float[] w = e.getValue();
            for (int i = 0; i < SPEC.layers(); i++) {
                for (String t : c.targetModules()) {
                    if (e.getKey().equals("model.layers." + i + "." + Qwen3Layer.modulePath(t) + ".weight")) {
                        long[] shape = TinyQwen3.shapeOf(SPEC, e.getKey());
                        w = merged(w, adapter.get(LoraAdapter.key(i, t, "lora_A")), adapter.get(LoraAdapter.key(i, t, "lora_B")),
                                (int) shape[0], (int) shape[1], c.r(), c.scale());
                    }
                }
            }
            writer.add(e.getKey(), "F32", TinyQwen3.shapeOf(SPEC, e.getKey()), w);
        }
        Path mergedDir = tmp.resolve("merged");
        java.nio.file.Files.createDirectories(mergedDir);
        TinyQwen3.writeConfig(mergedDir, SPEC, "F32");
        writer.write(mergedDir.resolve("model.safetensors"));

        int[] seq = {257, 10, 20, 30, 40, 50, 258};
        float[] withAdapter;
        float[] plain;
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32)) {
            plain = logits(model, seq);
            try (LoraAdapter a = LoraAdapter.inject(model, c, 0, adapter)) {
                withAdapter = logits(model, seq);
                a.setEnabled(false);
                float[] disabled = logits(model, seq);
                assertEquals(0.0, Arrays2.maxRelativeError(disabled, toDouble(plain)), "disabled adapter is the base");
            }
            float[] afterClose = logits(model, seq);
            assertEquals(0.0, Arrays2.maxRelativeError(afterClose, toDouble(plain)), "closing restores the base");
        }
        try (Qwen3Model model = Qwen3Model.load(mergedDir, Device.cpu(), DataType.FLOAT32)) {
            double err = Arrays2.maxRelativeError(withAdapter, toDouble(logits(model, seq)));
            assertTrue(err <= 1e-4, "LoRA vs merged relative error " + err);
        }
        assertTrue(Arrays2.maxRelativeError(withAdapter, toDouble(plain)) > 1e-2, "the adapter changes the output");
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void loraForwardEqualsMergedWeightsOnAllProjections() throws Exception {
        assertLoraEqualsMerged(lora(ALL, false));
    }

    @Test
    void rsLoraScalesByAlphaOverSqrtR() throws Exception {
        TrainConfig.Lora c = lora(List.of("q_proj", "v_proj"), true);
        assertEquals(8 / 2.0, c.scale());
        assertLoraEqualsMerged(c);
    }

    @Test
    void initialAdapterIsPeftInitAndLeavesTheModelUnchanged() throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT32)) {
            int[] seq = {1, 2, 3};
            float[] plain = logits(model, seq);
            TrainConfig.Lora c = lora(List.of("q_proj", "k_proj", "v_proj", "o_proj"), false);
            try (LoraAdapter a = LoraAdapter.inject(model, c, 42, null)) {
                assertEquals(0.0, Arrays2.maxRelativeError(logits(model, seq), toDouble(plain)));
                // per layer: q (64x32): 4*(32+64); k, v (32x32): 4*(32+32) each; o (32x64): 4*(64+32)
                assertEquals(SPEC.layers() * 4L * (96 + 64 + 64 + 96), a.trainableParameters());
                Map<String, float[]> v = a.values();
                float[] qa = v.get(LoraAdapter.key(0, "q_proj", "lora_A"));
                double bound = 1 / Math.sqrt(SPEC.hidden());
                double max = 0;
                for (float x : qa) {
                    max = Math.max(max, Math.abs(x));
                }
                assertTrue(max <= bound && max > 0.8 * bound, "kaiming_uniform(a=sqrt 5) bound " + bound + ", max " + max);
                for (float x : v.get(LoraAdapter.key(1, "o_proj", "lora_B"))) {
                    assertEquals(0f, x);
                }
            }
        }
    }

    /** Analytic LoRA gradients against central differences of the loss, on an fp64 model. */
    @Test
    void loraGradientsMatchFiniteDifferences() throws Exception {
        Path base = TinyQwen3.write(tmp.resolve("base"), SPEC, "F32", 1);
        TrainConfig.Lora c = lora(List.of("q_proj", "v_proj", "down_proj"), false);
        Map<String, float[]> adapter = randomAdapter(SPEC, c, 3);
        int[] ids = {257, 72, 105, 258, 10, 257, 97, 10, 65, 66, 258};
        MicroBatch mb = MicroBatch.of(List.of(new SampleEncoder.Encoded(ids, 7, "t")), 256);
        Engine engine = Devices.engine();
        String[] names = {LoraAdapter.key(0, "q_proj", "lora_A"), LoraAdapter.key(0, "q_proj", "lora_B"),
                LoraAdapter.key(1, "v_proj", "lora_A"), LoraAdapter.key(1, "down_proj", "lora_B")};
        int[] entries = {0, 5, 17};
        try (Qwen3Model model = Qwen3Model.load(base, Device.cpu(), DataType.FLOAT64)) {
            Map<String, float[]> analytic = new LinkedHashMap<>();
            try (LoraAdapter a = LoraAdapter.inject(model, c, 0, adapter);
                 NDManager m = model.manager().newSubManager()) {
                try (GradientCollector gc = engine.newGradientCollector()) {
                    gc.backward(LossFunctions.answerNll(model, m, mb, true));
                }
                for (LoraAdapter.Param p : a.params()) {
                    try (NDArray g = p.array().getGradient()) {
                        analytic.put(p.name(), g.toType(DataType.FLOAT32, false).toFloatArray());
                    }
                }
            }
            double h = 1e-3;
            for (String name : names) {
                for (int e : entries) {
                    double plus = loss(model, c, adapter, name, e, h, mb);
                    double minus = loss(model, c, adapter, name, e, -h, mb);
                    double numeric = (plus - minus) / (2 * h);
                    double got = analytic.get(name)[e];
                    assertEquals(numeric, got, 1e-4 + 1e-3 * Math.abs(numeric), name + "[" + e + "]");
                }
            }
        }
    }

    private static double loss(Qwen3Model model, TrainConfig.Lora c, Map<String, float[]> adapter, String name,
                               int entry, double delta, MicroBatch mb) {
        Map<String, float[]> moved = new LinkedHashMap<>(adapter);
        float[] v = adapter.get(name).clone();
        v[entry] += (float) delta;
        moved.put(name, v);
        try (LoraAdapter a = LoraAdapter.inject(model, c, 0, moved); NDManager m = model.manager().newSubManager()) {
            return LossFunctions.answerNll(model, m, mb, false).toType(DataType.FLOAT64, false).toDoubleArray()[0];
        }
    }
}
