package io.medqa.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import io.medqa.testing.Arrays2;
import io.medqa.testing.ReferenceQwen3;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The DJL forward pass against {@link ReferenceQwen3}, an independent double-precision implementation.
 * Tolerance: max |logit - reference| / max |reference| <= 1e-4 in fp32.
 */
class ForwardParityTest {

    static final double FP32_TOLERANCE = 1e-4;

    @TempDir
    Path tmp;

    /** Logits of a batch of equal-length sequences, flattened row by row. */
    static float[] logits(Qwen3Model model, int[][] batch) {
        long[] flat = new long[batch.length * batch[0].length];
        for (int b = 0; b < batch.length; b++) {
            for (int t = 0; t < batch[b].length; t++) {
                flat[b * batch[0].length + t] = batch[b][t];
            }
        }
        try (NDManager m = model.manager().newSubManager(); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray ids = m.create(flat).reshape(batch.length, batch[0].length);
            return model.logits(model.forward(ids, null, false)).toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    private void assertMatchesReference(TinyQwen3.Spec spec, String dtype, int shards, int[][] batch) throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve(dtype + shards + spec.seed()), spec, dtype, shards);
        Map<String, float[]> stored = TinyQwen3.rounded(TinyQwen3.weights(spec), dtype);
        ReferenceQwen3 ref = new ReferenceQwen3(spec, stored);
        try (Qwen3Model model = Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32)) {
            float[] got = logits(model, batch);
            int per = batch[0].length * spec.vocab();
            for (int b = 0; b < batch.length; b++) {
                double[] want = Arrays2.flatten(ref.logits(batch[b]));
                float[] row = java.util.Arrays.copyOfRange(got, b * per, (b + 1) * per);
                double err = Arrays2.maxRelativeError(row, want);
                assertTrue(err <= FP32_TOLERANCE, dtype + " sequence " + b + ": max relative error " + err);
            }
        }
    }

    @Test
    void gqaWithWideHeadsMatchesReference() throws Exception {
        // heads * head_dim = 64 != hidden = 32, 2 query heads per kv head, tied embeddings
        assertMatchesReference(TinyQwen3.Spec.gqa(), "F32", 1,
                new int[][] {{257, 72, 101, 108, 108, 111, 258, 10, 257}, {1, 2, 3, 4, 5, 6, 7, 8, 9}});
    }

    @Test
    void multiHeadUntiedMatchesReference() throws Exception {
        // untied lm_head, rope_theta 1e6 as in Qwen3, one sequence of 17 tokens
        assertMatchesReference(TinyQwen3.Spec.mha(), "F32", 1,
                new int[][] {{5, 250, 17, 3, 99, 100, 101, 7, 7, 7, 42, 0, 255, 13, 64, 200, 31}});
    }

    @Test
    void bf16CheckpointMatchesReferenceOnRoundedWeights() throws Exception {
        // Widening bf16 in Java is exact, so the reference on bf16-rounded weights is the target.
        assertMatchesReference(TinyQwen3.Spec.gqa(), "BF16", 1, new int[][] {{10, 20, 30, 40, 50}});
    }

    @Test
    void f16CheckpointMatchesReferenceOnRoundedWeights() throws Exception {
        assertMatchesReference(TinyQwen3.Spec.gqa(), "F16", 1, new int[][] {{10, 20, 30, 40, 50}});
    }

    @Test
    void bf16LogitsEqualF32LogitsWithinBf16Rounding() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        int[][] batch = {{3, 1, 4, 1, 5, 9, 2, 6}};
        float[] f32;
        float[] bf16;
        try (Qwen3Model m = Qwen3Model.load(TinyQwen3.write(tmp.resolve("a"), spec, "F32", 1), Device.cpu(),
                DataType.FLOAT32)) {
            f32 = logits(m, batch);
        }
        try (Qwen3Model m = Qwen3Model.load(TinyQwen3.write(tmp.resolve("b"), spec, "BF16", 1), Device.cpu(),
                DataType.FLOAT32)) {
            bf16 = logits(m, batch);
        }
        double[] ref = new double[f32.length];
        for (int i = 0; i < ref.length; i++) {
            ref[i] = f32[i];
        }
        double err = Arrays2.maxRelativeError(bf16, ref);
        // bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.002 per weight); through a few
        // layers that grows to a few percent, and never to zero.
        assertTrue(err > 0 && err < 0.05, "bf16 vs f32 relative error " + err);
    }

    @Test
    void shardedCheckpointEqualsSingleFile() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.mha();
        int[][] batch = {{9, 8, 7, 6, 5, 4}};
        float[] single;
        float[] sharded;
        try (Qwen3Model m = Qwen3Model.load(TinyQwen3.write(tmp.resolve("one"), spec, "F32", 1), Device.cpu(),
                DataType.FLOAT32)) {
            single = logits(m, batch);
        }
        try (Qwen3Model m = Qwen3Model.load(TinyQwen3.write(tmp.resolve("three"), spec, "F32", 3), Device.cpu(),
                DataType.FLOAT32)) {
            sharded = logits(m, batch);
        }
        assertArrayEquals(single, sharded, 0f);
    }

    @Test
    void fp16ComputeStaysCloseToReference() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        Path dir = TinyQwen3.write(tmp.resolve("h"), spec, "F16", 1);
        int[] seq = {11, 22, 33, 44, 55, 66};
        try (Qwen3Model model = Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT16)) {
            assertEquals(DataType.FLOAT16, model.dtype());
            float[] got = logits(model, new int[][] {seq});
            double[] want = Arrays2.flatten(new ReferenceQwen3(spec, TinyQwen3.rounded(TinyQwen3.weights(spec), "F16"))
                    .logits(seq));
            double err = Arrays2.maxRelativeError(got, want);
            assertTrue(err < 1e-2, "fp16 compute relative error " + err);
        }
    }

    @Test
    void repeatedForwardsLeaveNoArraysBehind() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        try (Qwen3Model model = Qwen3Model.load(TinyQwen3.write(tmp, spec, "F32", 1), Device.cpu(),
                DataType.FLOAT32)) {
            logits(model, new int[][] {{1, 2, 3}}); // grows the RoPE tables once
            int before = model.manager().getManagedArrays().size();
            for (int i = 0; i < 50; i++) {
                logits(model, new int[][] {{1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1}});
            }
            Generator generator = new Generator(model, java.util.Set.of());
            for (int i = 0; i < 5; i++) {
                generator.generate(new int[] {1, 2, 3}, 8, Sampling.GREEDY, id -> { });
            }
            assertEquals(before, model.manager().getManagedArrays().size());
        }
    }
}
