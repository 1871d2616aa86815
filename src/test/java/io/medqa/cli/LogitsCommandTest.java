package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.bench.SyntheticTokens;
import io.medqa.config.TrainConfig;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Qwen3Model;
import io.medqa.model.TinyQwen3;
import io.medqa.testing.Arrays2;
import io.medqa.testing.ReferenceQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** medqa logits on a tiny checkpoint, against the independent double-precision reference forward. */
class LogitsCommandTest {

    @TempDir
    Path tmp;

    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.gqa();
    /** fp32 against a double reference: max |error| / max |logit|, as ForwardParityTest allows. */
    static final double FP32_TOLERANCE = 1e-4;
    static final TrainConfig.Lora LORA = new TrainConfig.Lora(4, 8, 0.0, List.of("q_proj", "v_proj", "down_proj"), false);

    record Written(long[] ids, long[] idsShape, float[] logits, long[] logitsShape, Map<String, String> metadata) {}

    static Written read(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFile.TensorInfo ids = f.info("input_ids");
            SafetensorsFile.TensorInfo logits = f.info("logits");
            assertEquals("I64", ids.dtype());
            assertEquals("F32", logits.dtype());
            long[] values = new long[Math.toIntExact(ids.numel())];
            f.map("input_ids").order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(values);
            return new Written(values, ids.shape(), f.readFloats("logits"), logits.shape(), f.metadata());
        }
    }

    /** Random A and B, B non-zero (PEFT's init has B = 0, which would leave the model unchanged). */
    static Map<String, float[]> randomAdapter(long seed) {
        Random r = new Random(seed);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int i = 0; i < SPEC.layers(); i++) {
            for (String t : LORA.targetModules()) {
                long[] w = TinyQwen3.shapeOf(SPEC, "model.layers." + i + "." + Qwen3Layer.modulePath(t) + ".weight");
                out.put(LoraAdapter.key(i, t, "lora_A"), gaussian(r, LORA.r() * (int) w[1]));
                out.put(LoraAdapter.key(i, t, "lora_B"), gaussian(r, (int) w[0] * LORA.r()));
            }
        }
        return out;
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * 0.3);
        }
        return v;
    }

    /** The base weights with W + (alpha / r) B A folded into each target, computed here in double. */
    static Map<String, float[]> mergedWeights(Map<String, float[]> base, Map<String, float[]> adapter) {
        Map<String, float[]> out = new LinkedHashMap<>(base);
        for (int i = 0; i < SPEC.layers(); i++) {
            for (String t : LORA.targetModules()) {
                String name = "model.layers." + i + "." + Qwen3Layer.modulePath(t) + ".weight";
                long[] shape = TinyQwen3.shapeOf(SPEC, name);
                int rows = (int) shape[0];
                int cols = (int) shape[1];
                int rank = LORA.r();
                float[] a = adapter.get(LoraAdapter.key(i, t, "lora_A")); // (r, in)
                float[] b = adapter.get(LoraAdapter.key(i, t, "lora_B")); // (out, r)
                float[] w = base.get(name).clone();
                for (int o = 0; o < rows; o++) {
                    for (int c = 0; c < cols; c++) {
                        double acc = 0;
                        for (int k = 0; k < rank; k++) {
                            acc += (double) b[o * rank + k] * a[k * cols + c];
                        }
                        w[o * cols + c] = (float) (w[o * cols + c] + LORA.alpha() / rank * acc);
                    }
                }
                out.put(name, w);
            }
        }
        return out;
    }

    /** max |got - reference| / max |reference| over rows, positions and vocabulary. */
    static double errorAgainst(ReferenceQwen3 ref, Written w, boolean lastOnly) {
        int rows = (int) w.idsShape()[0];
        int seq = (int) w.idsShape()[1];
        int vocab = SPEC.vocab();
        int kept = lastOnly ? 1 : seq;
        assertArrayEquals(new long[] {rows, kept, vocab}, w.logitsShape());
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            int[] ids = new int[seq];
            for (int t = 0; t < seq; t++) {
                ids[t] = (int) w.ids()[r * seq + t];
            }
            double[][] want = ref.logits(ids);
            if (lastOnly) {
                want = new double[][] {want[seq - 1]};
            }
            float[] got = java.util.Arrays.copyOfRange(w.logits(), r * kept * vocab, (r + 1) * kept * vocab);
            worst = Math.max(worst, Arrays2.maxRelativeError(got, Arrays2.flatten(want)));
        }
        return worst;
    }

    @Test
    void writtenLogitsEqualTheReferenceWithAndWithoutAnAdapter() throws Exception {
        Path modelDir = TinyQwen3.write(tmp.resolve("model"), SPEC, "F32", 1);
        Map<String, float[]> weights = TinyQwen3.weights(SPEC);
        ReferenceQwen3 baseRef = new ReferenceQwen3(SPEC, weights);

        Path baseOut = tmp.resolve("base.safetensors");
        CliTest.Run base = CliTest.run("logits", "--model", modelDir.toString(), "--rows", "3", "--seq-len", "9",
                "--seed", "5", "--device", "cpu", "--dtype", "fp32", "--out", baseOut.toString());
        assertEquals(0, base.code(), base.err());
        assertEquals(1, base.out().strip().lines().count(), base.out());
        assertTrue(base.out().contains("3 x 9 x 300") && base.out().contains("0 non-finite"), base.out());
        Written b = read(baseOut);
        assertArrayEquals(new long[] {3, 9}, b.idsShape());
        int[][] expectedIds = new SyntheticTokens(5, SPEC.vocab()).rows(3, 9);
        for (int r = 0; r < 3; r++) {
            for (int t = 0; t < 9; t++) {
                assertEquals(expectedIds[r][t], b.ids()[r * 9 + t], "id " + r + "," + t);
            }
        }
        double baseErr = errorAgainst(baseRef, b, false);
        assertTrue(baseErr <= FP32_TOLERANCE, "base: max relative error " + baseErr);
        assertEquals("fp32", b.metadata().get("dtype"));
        assertEquals("all", b.metadata().get("positions"));
        assertEquals("", b.metadata().get("adapter"));
        assertEquals(modelDir.toAbsolutePath().normalize().toString(), b.metadata().get("model"));
        assertTrue(b.metadata().containsKey("medqa_version"));
        assertEquals("sdpa", b.metadata().get("attention"), "the default kernel, as the other commands");

        // --attention eager is honoured, and gives the reference's logits too
        Path eagerOut = tmp.resolve("eager.safetensors");
        CliTest.Run eager = CliTest.run("logits", "--model", modelDir.toString(), "--rows", "3", "--seq-len", "9",
                "--seed", "5", "--device", "cpu", "--dtype", "fp32", "--attention", "eager", "--out", eagerOut.toString());
        assertEquals(0, eager.code(), eager.err());
        Written e = read(eagerOut);
        assertEquals("eager", e.metadata().get("attention"));
        double eagerErr = errorAgainst(baseRef, e, false);
        assertTrue(eagerErr <= FP32_TOLERANCE, "eager: max relative error " + eagerErr);

        // An adapter in PEFT's layout, written by medqa's own adapter writer.
        Map<String, float[]> adapter = randomAdapter(13);
        Path adapterDir = tmp.resolve("adapter");
        try (Qwen3Model model = Qwen3Model.load(modelDir, Device.cpu(), DataType.FLOAT32);
             LoraAdapter lora = LoraAdapter.inject(model, LORA, 0, adapter)) {
            lora.save(adapterDir, modelDir.toString());
        }
        Path loraOut = tmp.resolve("lora.safetensors");
        CliTest.Run withAdapter = CliTest.run("logits", "--model", modelDir.toString(), "--adapter", adapterDir.toString(),
                "--rows", "3", "--seq-len", "9", "--seed", "5", "--device", "cpu", "--dtype", "fp32",
                "--out", loraOut.toString());
        assertEquals(0, withAdapter.code(), withAdapter.err());
        Written l = read(loraOut);
        assertArrayEquals(b.ids(), l.ids());
        double loraErr = errorAgainst(new ReferenceQwen3(SPEC, mergedWeights(weights, adapter)), l, false);
        assertTrue(loraErr <= FP32_TOLERANCE, "adapter: max relative error " + loraErr);
        assertTrue(Arrays2.maxRelativeError(l.logits(), toDouble(b.logits())) > 1e-2, "the adapter changes the logits");
        assertEquals(adapterDir.toAbsolutePath().normalize().toString(), l.metadata().get("adapter"));

        // Last positions only: the same numbers as the last position of the full run.
        Path lastOut = tmp.resolve("last.safetensors");
        CliTest.Run last = CliTest.run("logits", "--model", modelDir.toString(), "--rows", "3", "--seq-len", "9",
                "--seed", "5", "--device", "cpu", "--dtype", "fp32", "--positions", "last", "--out", lastOut.toString());
        assertEquals(0, last.code(), last.err());
        Written lw = read(lastOut);
        double lastErr = errorAgainst(baseRef, lw, true);
        assertTrue(lastErr <= FP32_TOLERANCE, "last positions: max relative error " + lastErr);
        assertEquals("last", lw.metadata().get("positions"));
    }

    @Test
    void idsFromAFileAreUsedAsGiven() throws Exception {
        Path modelDir = TinyQwen3.write(tmp.resolve("model"), SPEC, "F32", 1);
        long[] ids = {257, 10, 20, 30, 40, 258, 299, 0, 1, 2, 3, 4};
        Path idsFile = writeIds(tmp.resolve("ids.safetensors"), ids, new long[] {2, 6});
        Path out = tmp.resolve("from-file.safetensors");
        CliTest.Run r = CliTest.run("logits", "--model", modelDir.toString(), "--input-ids", idsFile.toString(),
                "--device", "cpu", "--dtype", "fp32", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        Written w = read(out);
        assertArrayEquals(ids, w.ids());
        assertArrayEquals(new long[] {2, 6}, w.idsShape());
        double err = errorAgainst(new ReferenceQwen3(SPEC, TinyQwen3.weights(SPEC)), w, false);
        assertTrue(err <= FP32_TOLERANCE, "max relative error " + err);
    }

    static Path writeIds(Path file, long[] ids, long[] shape) {
        SafetensorsWriter.writeStreaming(file, Map.of(), List.of(new SafetensorsWriter.Spec("input_ids", "I64", shape)),
                (spec, os) -> {
                    ByteBuffer b = ByteBuffer.allocate(ids.length * 8).order(ByteOrder.LITTLE_ENDIAN);
                    for (long v : ids) {
                        b.putLong(v);
                    }
                    os.write(b.array());
                });
        return file;
    }

    @Test
    void badInputGivesOneLineErrorsAndNoOutput() throws Exception {
        Path modelDir = TinyQwen3.write(tmp.resolve("model"), SPEC, "F32", 1);
        Path outDir = Files.createDirectories(tmp.resolve("out"));
        Path out = outDir.resolve("logits.safetensors");
        Path outsideVocab = writeIds(tmp.resolve("bad-ids.safetensors"), new long[] {1, 2, 300}, new long[] {1, 3});
        Object[][] cases = {
            {66, "not found", new String[] {"--model", tmp.resolve("missing").toString()}},
            {2, "--rows", new String[] {"--model", modelDir.toString(), "--rows", "0"}},
            {2, "--rows", new String[] {"--model", modelDir.toString(), "--rows", "two"}},
            {2, "--seq-len", new String[] {"--model", modelDir.toString(), "--seq-len", "-3"}},
            {2, "--positions", new String[] {"--model", modelDir.toString(), "--positions", "first"}},
            {2, "--input-ids", new String[] {"--model", modelDir.toString(), "--rows", "2", "--input-ids",
                outsideVocab.toString()}},
            {65, "outside the vocabulary", new String[] {"--model", modelDir.toString(), "--input-ids",
                outsideVocab.toString()}},
            {66, "not found", new String[] {"--model", modelDir.toString(), "--input-ids",
                tmp.resolve("none.safetensors").toString()}},
            {66, "adapter", new String[] {"--model", modelDir.toString(), "--adapter", tmp.resolve("no-adapter").toString()}},
        };
        for (Object[] c : cases) {
            String[] extra = (String[]) c[2];
            String[] args = Stream.concat(Stream.of("logits"), Stream.concat(Stream.of(extra),
                    Stream.of("--device", "cpu", "--dtype", "fp32", "--out", out.toString()))).toArray(String[]::new);
            CliTest.Run r = CliTest.run(args);
            String what = String.join(" ", extra) + ": " + r.err();
            assertEquals((int) c[0], r.code(), what);
            List<String> lines = r.err().strip().lines().toList();
            assertEquals(1, lines.size(), what);
            assertTrue(lines.get(0).startsWith("medqa: error: "), what);
            assertTrue(lines.get(0).contains((String) c[1]), what);
            assertFalse(Files.exists(out), what);
            try (Stream<Path> left = Files.list(outDir)) {
                assertEquals(0, left.count(), what + ": nothing left in the output folder");
            }
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
