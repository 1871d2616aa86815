package io.medqa.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.testing.Arrays2;
import io.medqa.testing.ReferenceQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model with attention sdpa against the same model with attention eager: fp32 logits within
 * 1e-5 absolute (the two kernels differ only in rounding: SDPA scales q and k by sqrt(scale) each and
 * accumulates blockwise), the same greedy ids with a KV cache, and no array left behind.
 */
class SdpaAttentionTest {

    static final double FP32_ABS_TOLERANCE = 1e-5;

    @TempDir
    Path tmp;

    private Qwen3Model load(TinyQwen3.Spec spec, String name, DataType dtype) throws Exception {
        return Qwen3Model.load(TinyQwen3.write(tmp.resolve(name), spec, dtype == DataType.FLOAT16 ? "F16" : "F32", 1),
                Device.cpu(), dtype);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    private void assertSdpaMatchesEager(TinyQwen3.Spec spec, int[][] batch) throws Exception {
        try (Qwen3Model model = load(spec, "m" + spec.seed(), DataType.FLOAT32)) {
            float[] eager = ForwardParityTest.logits(model, batch);
            model.setAttention(Attention.SDPA);
            assertEquals(Attention.SDPA, model.attentionImplementation());
            float[] sdpa = ForwardParityTest.logits(model, batch);
            double diff = maxAbsDiff(sdpa, eager);
            assertTrue(diff <= FP32_ABS_TOLERANCE, "sdpa vs eager max |logit difference| " + diff);
            // The kernels round differently: identical bits would mean the fused path never ran.
            assertFalse(java.util.Arrays.equals(sdpa, eager), "sdpa logits are bit-identical to eager");
            // and both against the independent double-precision reference
            ReferenceQwen3 ref = new ReferenceQwen3(spec, TinyQwen3.weights(spec));
            int per = batch[0].length * spec.vocab();
            for (int b = 0; b < batch.length; b++) {
                float[] row = java.util.Arrays.copyOfRange(sdpa, b * per, (b + 1) * per);
                double err = Arrays2.maxRelativeError(row, Arrays2.flatten(ref.logits(batch[b])));
                assertTrue(err <= ForwardParityTest.FP32_TOLERANCE, "sequence " + b + ": relative error " + err);
            }
            model.setAttention(Attention.EAGER);
            assertArrayEquals(eager, ForwardParityTest.logits(model, batch), 0f, "back to eager");
        }
    }

    @Test
    void groupedQueryAttentionLogitsEqualEagerInFp32() throws Exception {
        // 4 query heads on 2 kv heads, head_dim 16 != hidden / heads, a batch of two rows
        assertSdpaMatchesEager(TinyQwen3.Spec.gqa(),
                new int[][] {{257, 72, 101, 108, 108, 111, 258, 10, 257}, {1, 2, 3, 4, 5, 6, 7, 8, 9}});
    }

    @Test
    void multiHeadAttentionLogitsEqualEagerInFp32() throws Exception {
        assertSdpaMatchesEager(TinyQwen3.Spec.mha(),
                new int[][] {{5, 250, 17, 3, 99, 100, 101, 7, 7, 7, 42, 0, 255, 13, 64, 200, 31}});
    }

    @Test
    void kvCacheGenerationGivesTheSameIdsUnderBothKernels() throws Exception {
        int[] prompt = {257, 117, 115, 101, 114, 10, 72, 105, 258, 10, 257};
        for (TinyQwen3.Spec spec : new TinyQwen3.Spec[] {TinyQwen3.Spec.mha(), TinyQwen3.Spec.gqa()}) {
            try (Qwen3Model model = load(spec, "g" + spec.seed(), DataType.FLOAT32)) {
                int[] eager = new Generator(model, Set.of()).generate(prompt, 12, Sampling.GREEDY, id -> { }).ids();
                model.setAttention(Attention.SDPA);
                int[] sdpa = new Generator(model, Set.of()).generate(prompt, 12, Sampling.GREEDY, id -> { }).ids();
                assertArrayEquals(eager, sdpa, "spec seed " + spec.seed());
                assertArrayEquals(new ReferenceQwen3(spec, TinyQwen3.weights(spec)).greedy(prompt, 12), sdpa);
            }
        }
    }

    @Test
    void fp16SdpaStaysCloseToReference() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        int[] seq = {11, 22, 33, 44, 55, 66};
        try (Qwen3Model model = load(spec, "h", DataType.FLOAT16)) {
            model.setAttention(Attention.SDPA);
            float[] got = ForwardParityTest.logits(model, new int[][] {seq});
            double[] want = Arrays2.flatten(new ReferenceQwen3(spec, TinyQwen3.rounded(TinyQwen3.weights(spec), "F16"))
                    .logits(seq));
            double err = Arrays2.maxRelativeError(got, want);
            assertTrue(err < 1e-2, "fp16 sdpa relative error " + err);
        }
    }

    @Test
    void repeatedSdpaForwardsAndGenerationsLeaveNoArraysBehind() throws Exception {
        try (Qwen3Model model = load(TinyQwen3.Spec.gqa(), "leak", DataType.FLOAT32)) {
            model.setAttention(Attention.SDPA);
            ForwardParityTest.logits(model, new int[][] {{1, 2, 3}}); // grows the RoPE tables once
            int before = model.manager().getManagedArrays().size();
            for (int i = 0; i < 50; i++) {
                ForwardParityTest.logits(model, new int[][] {{1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1}});
            }
            Generator generator = new Generator(model, Set.of());
            for (int i = 0; i < 5; i++) {
                generator.generate(new int[] {1, 2, 3}, 8, Sampling.GREEDY, id -> { });
            }
            assertEquals(before, model.manager().getManagedArrays().size());
        }
    }
}
