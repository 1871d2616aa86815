package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.TorchScriptArchive;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hand-made TorchScript archive in libtorch: it loads, its causal SDPA equals attention computed
 * here in double precision (within 1e-5 absolute in fp32), and a damaged archive fails with one line
 * that says what libtorch refused.
 */
class SdpaModuleTest {

    static final int BATCH = 2;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int TOKENS = 6;
    static final int D = 16;

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** softmax(q k^T / sqrt(d) + causal) v in double, query head h on kv head h / (HEADS / KV_HEADS). */
    private static double[] reference(float[] q, float[] k, float[] v) {
        double[] out = new double[BATCH * HEADS * TOKENS * D];
        int groups = HEADS / KV_HEADS;
        for (int b = 0; b < BATCH; b++) {
            for (int h = 0; h < HEADS; h++) {
                int kvh = h / groups;
                for (int i = 0; i < TOKENS; i++) {
                    double[] s = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int e = 0; e < D; e++) {
                            dot += q[((b * HEADS + h) * TOKENS + i) * D + e] * (double) k[((b * KV_HEADS + kvh) * TOKENS + j) * D + e];
                        }
                        s[j] = dot / Math.sqrt(D);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < D; e++) {
                            out[((b * HEADS + h) * TOKENS + i) * D + e] += s[j] / sum * v[((b * KV_HEADS + kvh) * TOKENS + j) * D + e];
                        }
                    }
                }
            }
        }
        return out;
    }

    private static void assertCausalAttention(Sdpa sdpa) {
        Random r = new Random(3);
        float[] q = random(r, BATCH * HEADS * TOKENS * D);
        float[] k = random(r, BATCH * KV_HEADS * TOKENS * D);
        float[] v = random(r, BATCH * KV_HEADS * TOKENS * D);
        try (NDManager m = Devices.engine().newBaseManager()) {
            NDArray out = sdpa.causal(Tensors.fromHost(m, q, new Shape(BATCH, HEADS, TOKENS, D)),
                    Tensors.fromHost(m, k, new Shape(BATCH, KV_HEADS, TOKENS, D)),
                    Tensors.fromHost(m, v, new Shape(BATCH, KV_HEADS, TOKENS, D)));
            assertEquals(new Shape(BATCH, HEADS, TOKENS, D), out.getShape());
            float[] got = out.toFloatArray();
            double[] want = reference(q, k, v);
            double max = 0;
            for (int i = 0; i < want.length; i++) {
                max = Math.max(max, Math.abs(got[i] - want[i]));
            }
            assertTrue(max <= 1e-5, "max |sdpa - reference| " + max);
        }
    }

    @Test
    void sharedKvHeadsComputeCausalAttention() {
        try (NDManager m = Devices.engine().newBaseManager()) {
            Sdpa sdpa = Sdpa.loadSharingKvHeads(m, D, HEADS / KV_HEADS);
            assertTrue(sdpa.sharesKvHeads());
            assertCausalAttention(sdpa);
        }
    }

    @Test
    void repeatedKvHeadsOnTheCpuComputeTheSame() {
        try (NDManager m = Devices.engine().newBaseManager()) {
            Sdpa sdpa = Sdpa.load(m, D, HEADS / KV_HEADS);
            assertTrue(!sdpa.sharesKvHeads(), "on the CPU kv heads are repeated");
            assertTrue(Sdpa.source(D, HEADS / KV_HEADS, false).contains("repeat_interleave(k, 2, 1)"));
            assertCausalAttention(sdpa);
        }
    }

    private static MedqaException loadFails(byte[] archive) {
        try (NDManager m = Devices.engine().newBaseManager()) {
            MedqaException e = assertThrows(MedqaException.class, () -> Sdpa.load(m, archive));
            assertEquals(ExitCodes.UNAVAILABLE, e.exitCode());
            assertTrue(e.getMessage().startsWith("cannot load the TorchScript module for attention sdpa: "), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
            return e;
        }
    }

    @Test
    void aTruncatedArchiveFailsNamingTheZipProblem() {
        byte[] good = TorchScriptArchive.module("sdpa", "Sdpa", Sdpa.source(D, 2, true));
        MedqaException e = loadFails(java.util.Arrays.copyOf(good, good.length / 2));
        assertTrue(e.getMessage().contains("zip archive"), e.getMessage());
    }

    @Test
    void anUnsupportedFormatVersionFails() {
        byte[] good = TorchScriptArchive.module("sdpa", "Sdpa", Sdpa.source(D, 2, true));
        // the version entry's data follows its local header's name; "3\n" -> "99" keeps every length and offset
        byte[] bad = good.clone();
        byte[] name = "sdpa/version".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int at = indexOf(bad, "3\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII), indexOf(bad, name, 0));
        bad[at] = '9';
        bad[at + 1] = '9';
        MedqaException e = loadFails(bad);
        assertTrue(e.getMessage().contains("version"), e.getMessage());
    }

    @Test
    void sourceThatDoesNotCompileFailsQuotingLibtorch() {
        String source = Sdpa.source(D, 2, true).replace("enable_gqa", "enable_gqx");
        MedqaException e = loadFails(TorchScriptArchive.module("sdpa", "Sdpa", source));
        assertTrue(e.getMessage().contains("Keyword argument enable_gqx unknown"), e.getMessage());
    }

    private static int indexOf(byte[] hay, byte[] n, int from) {
        for (int i = from; i + n.length <= hay.length; i++) {
            if (java.util.Arrays.equals(hay, i, i + n.length, n, 0, n.length)) {
                return i;
            }
        }
        throw new AssertionError("not found after " + from);
    }
}
