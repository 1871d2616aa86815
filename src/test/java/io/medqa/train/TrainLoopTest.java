package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.config.ConfigLoader;
import io.medqa.io.SafetensorsFile;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainLoopTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    static Trainer.Result train(TinyRun run, Path resume, Trainer.Listener listener, AtomicBoolean stop, String... extra)
            throws Exception {
        var tree = run.tree(extra);
        return new Trainer(ConfigLoader.bind(tree, "test"), tree, resume, listener, stop).run();
    }

    static List<JsonNode> metrics(Path out) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve(Metrics.FILE))) {
            lines.add(JSON.readTree(l));
        }
        return lines;
    }

    static List<Double> losses(Path out) throws Exception {
        return metrics(out).stream().filter(n -> n.has("loss")).map(n -> n.get("loss").asDouble()).toList();
    }

    /** A run stopped after step 5 (as Ctrl-C does) and resumed ends with the uninterrupted run's losses. */
    @Test
    void resumeReproducesUninterruptedLosses() throws Exception {
        TinyRun run = new TinyRun(tmp, 64);
        String[] settings = {"train.max_steps=9", "train.save_steps=4", "lora.dropout=0.1",
                "train.micro_batch_size=3", "train.grad_accum_steps=2", "data.shuffle_buffer=16"};

        train(run, null, Listeners.QUIET, new AtomicBoolean(), settings);
        List<Double> straight = losses(run.output);
        Map<String, float[]> straightAdapter = Checkpoints.readAll(run.output.resolve(LoraAdapter.WEIGHTS_FILE));
        assertEquals(9, straight.size());
        assertEquals(List.of(run.output.resolve("checkpoint-4"), run.output.resolve("checkpoint-8")),
                Checkpoints.list(run.output));

        // 1. stopped after step 5: a checkpoint is written, the adapter is not
        Path out2 = tmp.resolve("out2");
        AtomicBoolean stop = new AtomicBoolean();
        Listeners.Recording stopAt5 = new Listeners.Recording() {
            @Override
            public void step(Trainer.StepRecord record) {
                super.step(record);
                if (record.step() == 5) {
                    stop.set(true);
                }
            }
        };
        Trainer.Result interrupted = train(run, null, stopAt5, stop, concat(settings, "output.dir=" + out2));
        assertTrue(interrupted.interrupted());
        assertEquals(5, interrupted.steps());
        assertFalse(Files.exists(out2.resolve(LoraAdapter.WEIGHTS_FILE)));
        Path checkpoint5 = out2.resolve("checkpoint-5");
        assertTrue(Files.isRegularFile(checkpoint5.resolve(LoraAdapter.WEIGHTS_FILE)));

        Trainer.Result resumed = train(run, checkpoint5, Listeners.QUIET, new AtomicBoolean(),
                concat(settings, "output.dir=" + out2));
        assertFalse(resumed.interrupted());
        assertEquals(straight, losses(out2));
        assertMapsEqual(straightAdapter, Checkpoints.readAll(out2.resolve(LoraAdapter.WEIGHTS_FILE)));

        // 2. killed after step 4: only checkpoint-4 survives, in a folder with no metrics
        Path out3 = tmp.resolve("out3");
        Files.createDirectories(out3);
        copyTree(run.output.resolve("checkpoint-4"), out3.resolve("checkpoint-4"));
        train(run, out3.resolve("checkpoint-4"), Listeners.QUIET, new AtomicBoolean(), concat(settings, "output.dir=" + out3));
        assertEquals(straight.subList(4, 9), losses(out3));
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void assertMapsEqual(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        a.forEach((k, v) -> assertArrayEquals(v, b.get(k), 0f, k));
    }

    private static void copyTree(Path from, Path to) throws Exception {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }

    @Test
    void outputsArePeftFormatWithMetricsCurveAndProvenance() throws Exception {
        TinyRun run = new TinyRun(tmp, 40);
        Listeners.Recording rec = new Listeners.Recording();
        train(run, null, rec, new AtomicBoolean(), "train.max_steps=4", "train.eval_steps=2",
                "lora.target_modules=[q_proj,v_proj]", "lora.r=4", "lora.alpha=8");

        try (SafetensorsFile f = SafetensorsFile.open(run.output.resolve("adapter_model.safetensors"))) {
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(2 * 2 * 2, f.tensors().size()); // layers x targets x {A, B}
            for (var t : f.tensors().values()) {
                assertTrue(t.name().matches(
                        "base_model\\.model\\.model\\.layers\\.[01]\\.self_attn\\.[qv]_proj\\.lora_[AB]\\.weight"), t.name());
                assertEquals("F32", t.dtype());
            }
            // q_proj: (64 x 64) in Qwen3 layout heads*head_dim x hidden; v_proj: (32 x 64)
            assertArrayEquals(new long[] {4, 64}, f.info(LoraAdapter.key(0, "q_proj", "lora_A")).shape());
            assertArrayEquals(new long[] {64, 4}, f.info(LoraAdapter.key(0, "q_proj", "lora_B")).shape());
            assertArrayEquals(new long[] {32, 4}, f.info(LoraAdapter.key(1, "v_proj", "lora_B")).shape());
        }
        JsonNode cfg = JSON.readTree(run.output.resolve("adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
        assertEquals(4, cfg.get("r").asInt());
        assertEquals(8, cfg.get("lora_alpha").asInt());
        assertTrue(cfg.get("lora_alpha").isIntegralNumber());
        assertEquals("[\"q_proj\",\"v_proj\"]", cfg.get("target_modules").toString());
        assertEquals("none", cfg.get("bias").asText());
        assertFalse(cfg.get("use_rslora").asBoolean());
        assertEquals(run.model.toString(), cfg.get("base_model_name_or_path").asText());

        List<JsonNode> lines = metrics(run.output);
        List<JsonNode> steps = lines.stream().filter(n -> n.has("loss")).toList();
        assertEquals(4, steps.size());
        for (String key : List.of("step", "epoch", "loss", "lr", "grad_norm", "loss_scale", "tokens", "tokens_per_s",
                "elapsed_s")) {
            assertTrue(steps.get(0).has(key), "metrics line lacks " + key);
        }
        assertEquals(2, lines.stream().filter(n -> n.has("eval_loss")).count());
        assertEquals(2, rec.evals.size());
        java.awt.image.BufferedImage curve = javax.imageio.ImageIO.read(run.output.resolve(Metrics.CURVE).toFile());
        assertEquals(LossChart.WIDTH, curve.getWidth());
        assertTrue(lines.stream().filter(n -> n.has("eval_loss")).allMatch(n -> n.has("eval_accuracy")));
        assertFalse(Files.exists(run.output.resolve(BestAdapter.DIR)), "train.save_best is off by default");

        JsonNode runJson = JSON.readTree(run.output.resolve("run.json").toFile());
        assertEquals("completed", runJson.get("status").asText());
        assertEquals(4, runJson.get("steps").asInt());
        // per layer, r * (in + out): q_proj 4 * (64 + 64) + v_proj 4 * (64 + 32); two layers
        assertEquals(2 * (4 * (64 + 64) + 4 * (64 + 32)), runJson.get("trainable_parameters").asLong());
        assertEquals(RunInfo.sha256(run.train), runJson.get("data_sha256").get(run.train.toString()).asText());
        assertEquals(RunInfo.sha256(run.model.resolve("model.safetensors")),
                runJson.get("base_model").get("sha256").get(run.model.resolve("model.safetensors").toString()).asText());
        assertTrue(runJson.get("config_sha256").asText().matches("[0-9a-f]{64}"));
        assertTrue(Files.readString(run.output.resolve("config.yaml")).contains("micro_batch_size: 8"));
    }

    /** fp16 with an absurd initial scale: overflowing steps are skipped and halve the scale. */
    @Test
    void overflowingStepsAreSkippedAndTheScaleHalves() throws Exception {
        TinyRun run = new TinyRun(tmp, 40);
        train(run, null, Listeners.QUIET, new AtomicBoolean(), "train.precision=fp16", "train.max_steps=24",
                "train.loss_scale_init=1e12", "train.micro_batch_size=2", "train.lr=1e-3");
        List<JsonNode> steps = metrics(run.output);
        assertTrue(steps.get(0).get("skipped").asBoolean(), "the first step overflows at 1e12");
        double previous = 0;
        int skipped = 0;
        for (JsonNode s : steps) {
            double scale = s.get("loss_scale").asDouble();
            if (previous > 0) {
                assertEquals(skippedBefore(steps, s) ? previous / 2 : previous, scale);
            }
            previous = scale;
            skipped += s.get("skipped").asBoolean() ? 1 : 0;
            if (!s.get("skipped").asBoolean()) {
                assertTrue(Double.isFinite(s.get("grad_norm").asDouble()));
            }
        }
        assertTrue(skipped > 0 && skipped < steps.size(), "some steps skipped, some taken: " + skipped);
        JsonNode runJson = JSON.readTree(run.output.resolve("run.json").toFile());
        assertEquals(skipped, runJson.get("skipped_steps").asInt());
        assertTrue(Double.isFinite(runJson.get("final_loss").asDouble()));
    }

    private static boolean skippedBefore(List<JsonNode> steps, JsonNode s) {
        return steps.get(steps.indexOf(s) - 1).get("skipped").asBoolean();
    }

    @Test
    void lossScalerHalvesOnInfAndNanAndGrowsAfterCleanSteps() {
        LossScaler s = new LossScaler(true, 65536, 3);
        assertFalse(s.update(Double.POSITIVE_INFINITY));
        assertEquals(32768, s.scale());
        assertFalse(s.update(Double.NaN));
        assertEquals(16384, s.scale());
        assertTrue(s.update(1.0));
        assertTrue(s.update(1.0));
        assertEquals(16384, s.scale());
        assertTrue(s.update(1.0));
        assertEquals(32768, s.scale()); // three clean steps in a row
        assertEquals(2, s.skippedSteps());
        LossScaler off = new LossScaler(false, 65536, 3);
        assertEquals(1.0, off.scale());
        assertFalse(off.update(Double.NaN));
        assertEquals(1.0, off.scale());
    }

    @Test
    void scheduleWarmsUpThenDecays() {
        LrSchedule cosine = LrSchedule.of("cosine", 1.0, 100, 0.1);
        assertEquals(10, cosine.warmupSteps());
        assertEquals(0.0, cosine.lr(0));
        assertEquals(0.5, cosine.lr(5), 1e-12);
        assertEquals(1.0, cosine.lr(10), 1e-12);
        assertEquals(0.5, cosine.lr(55), 1e-12);
        assertEquals(0.0, cosine.lr(100), 1e-12);
        LrSchedule linear = LrSchedule.of("linear", 2.0, 10, 0.0);
        assertEquals(2.0, linear.lr(0));
        assertEquals(1.0, linear.lr(5), 1e-12);
        assertEquals(1.0, LrSchedule.of("constant", 1.0, 10, 0.25).lr(3), 1e-12);
        assertEquals(2.0 / 3, LrSchedule.of("constant", 1.0, 10, 0.25).lr(2), 1e-12);
    }
}
