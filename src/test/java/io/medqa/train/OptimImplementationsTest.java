package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.MedqaException;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train.optim}: whole training runs with adamw_torch_fused and adamw_torch on the same data and
 * seed follow each other. Tolerance: the two differ only in fp32 rounding order inside the update
 * (AdamWTest: 1e-6 per step), and training amplifies that a little over the steps. In fp32: losses and
 * gradient norms within 1e-4 relative, adapter weights within 1e-4 absolute over 16 steps. In fp16 a
 * difference of 1e-7 in a LoRA weight can flip the rounding of an fp16 activation (one ulp is 1e-3
 * relative), so there: 2e-3 relative and 1e-3 absolute. A wrong update (a missing bias correction, a
 * step counter advanced on a skipped fp16 step) differs by percents.
 */
class OptimImplementationsTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"fp32", "fp16"})
    void fusedAndPerTensorRunsAgree(String precision) throws Exception {
        TinyRun run = new TinyRun(tmp, 48);
        // fp16 starts at a scale that overflows, so that skipped steps (no update, no step count) are in the run
        String[] settings = {"train.precision=" + precision, "train.max_steps=16", "train.micro_batch_size=4",
                "train.grad_accum_steps=2", "train.lr=5e-3", "train.weight_decay=0.01", "lora.dropout=0.1",
                "train.loss_scale_init=" + ("fp16".equals(precision) ? "1e6" : "65536")};
        double tol = "fp16".equals(precision) ? 2e-3 : 1e-4;
        double weightTol = "fp16".equals(precision) ? 1e-3 : 1e-4;
        Path fusedOut = tmp.resolve("fused");
        Path perTensorOut = tmp.resolve("per-tensor");
        TrainLoopTest.train(run, null, Listeners.QUIET, new AtomicBoolean(),
                concat(settings, "train.optim=adamw_torch_fused", "output.dir=" + fusedOut));
        TrainLoopTest.train(run, null, Listeners.QUIET, new AtomicBoolean(),
                concat(settings, "train.optim=adamw_torch", "output.dir=" + perTensorOut));

        assertEquals("adamw_torch_fused", JSON.readTree(fusedOut.resolve("run.json").toFile()).get("optimizer").asText());
        assertEquals("adamw_torch", JSON.readTree(perTensorOut.resolve("run.json").toFile()).get("optimizer").asText());

        List<JsonNode> a = steps(fusedOut);
        List<JsonNode> b = steps(perTensorOut);
        assertEquals(16, a.size());
        assertEquals(16, b.size());
        int taken = 0;
        for (int i = 0; i < a.size(); i++) {
            assertEquals(b.get(i).get("skipped").asBoolean(), a.get(i).get("skipped").asBoolean(), "step " + i);
            assertEquals(b.get(i).get("loss_scale").asDouble(), a.get(i).get("loss_scale").asDouble(), "step " + i);
            close(b.get(i).get("loss").asDouble(), a.get(i).get("loss").asDouble(), tol, "loss at step " + i);
            if (!a.get(i).get("skipped").asBoolean()) {
                close(b.get(i).get("grad_norm").asDouble(), a.get(i).get("grad_norm").asDouble(), tol,
                        "grad_norm at step " + i);
                taken++;
            }
        }
        System.out.println(precision + ": " + taken + " of " + a.size() + " steps taken");
        assertTrue(taken >= 6, "most steps update the adapter: " + taken);
        if ("fp16".equals(precision)) {
            assertTrue(a.get(0).get("skipped").asBoolean(), "a scale of 1e6 overflows fp16 at the first step");
        }
        double first = a.get(0).get("loss").asDouble();
        double last = a.get(a.size() - 1).get("loss").asDouble();
        assertTrue(last < first, "training moved the loss: " + first + " -> " + last);

        Map<String, float[]> wa = read(fusedOut.resolve(LoraAdapter.WEIGHTS_FILE));
        Map<String, float[]> wb = read(perTensorOut.resolve(LoraAdapter.WEIGHTS_FILE));
        assertEquals(wb.keySet(), wa.keySet());
        double moved = 0;
        double maxDiff = 0;
        for (String k : wb.keySet()) {
            float[] x = wa.get(k);
            float[] y = wb.get(k);
            for (int i = 0; i < y.length; i++) {
                assertEquals(y[i], x[i], weightTol, k + "[" + i + "]");
                moved += Math.abs(y[i]);
                maxDiff = Math.max(maxDiff, Math.abs(y[i] - x[i]));
            }
        }
        assertTrue(moved > 0, "the adapters are all zero");
        System.out.println(precision + ": largest adapter weight difference " + maxDiff);
    }

    @Test
    void unknownOptimIsAConfigErrorNamingTheKey() {
        TinyRun run;
        try {
            run = new TinyRun(tmp, 8);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        MedqaException e = assertThrows(MedqaException.class, () -> run.config("train.optim=adamw_8bit"));
        assertTrue(e.getMessage().contains("train.optim"), e.getMessage());
        assertTrue(e.getMessage().contains("adamw_torch_fused"), e.getMessage());
    }

    private static void close(double want, double got, double relative, String what) {
        assertEquals(want, got, relative * Math.abs(want) + 1e-7, what);
    }

    private static List<JsonNode> steps(Path out) throws Exception {
        return TrainLoopTest.metrics(out).stream().filter(n -> n.has("loss")).toList();
    }

    private static Map<String, float[]> read(Path file) throws Exception {
        return Checkpoints.readAll(file);
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
