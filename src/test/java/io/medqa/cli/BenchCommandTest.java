package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.bench.BenchShape;
import io.medqa.bench.FlopCount;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void tinyTrainingBenchReportsSaneFigures() throws Exception {
        CliTest.Run r = CliTest.run("bench", "--shape", "tiny", "--steps", "2", "--warmup", "1", "--micro-batch", "2",
                "--seq-len", "32", "--peak-tflops", "0.5", "--device", "cpu", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals("train", j.get("mode").asText());
        assertEquals("fp32", j.get("precision").asText());
        assertEquals(64, j.get("tokens_per_step").asLong());
        assertEquals(7_168, j.get("parameters").get("trainable").asLong()); // r 8 on q/k/v/o of the tiny shape
        JsonNode st = j.get("step_time_s");
        assertEquals(2, st.get("all").size());
        double median = st.get("median").asDouble();
        assertTrue(median > 0 && st.get("min").asDouble() <= median && median <= st.get("max").asDouble(), st.toString());
        assertEquals(64 / median, j.get("tokens_per_s").asDouble(), 1e-9 * j.get("tokens_per_s").asDouble());
        double flops = FlopCount.trainMicroBatch(BenchShape.of("tiny"), List.of("q_proj", "k_proj", "v_proj", "o_proj"),
                8, 2, 32);
        assertEquals(flops, j.get("flops_per_step").asDouble());
        assertEquals(flops / median / 1e12 / 0.5, j.get("mfu").asDouble(), 1e-12);
        // random N(0, 0.02) weights give near-uniform predictions: the loss starts at about ln(vocab)
        assertEquals(3, j.get("losses").size());
        for (JsonNode loss : j.get("losses")) {
            assertEquals(Math.log(512), loss.asDouble(), 0.3);
        }
        assertEquals(0, j.get("skipped_steps").asLong());
        JsonNode mem = j.get("memory");
        assertTrue(mem.get("peak_rss_bytes").asLong() >= mem.get("rss_end_bytes").asLong(), mem.toString());
        assertTrue(mem.get("rss_end_bytes").asLong() > 0, mem.toString());
        assertTrue(mem.has("rss_growth_bytes"));
        assertFalse(mem.has("gpu_used_peak_bytes"));
        assertFalse(j.has("profile"));
    }

    @Test
    void profileWritesTheStepsTraceAndCountsItsOps() throws Exception {
        Path trace = tmp.resolve("step.json");
        CliTest.Run r = CliTest.run("bench", "--shape", "tiny", "--steps", "2", "--warmup", "1", "--micro-batch", "2",
                "--seq-len", "32", "--device", "cpu", "--json", "--profile", trace.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals(2, j.get("step_time_s").get("all").size(), "the profiled step is not one of the timed ones");
        assertEquals(3, j.get("losses").size());
        JsonNode p = j.get("profile");
        assertEquals(trace.toString(), p.get("file").asText());
        JsonNode events = JSON.readTree(trace.toFile());
        long complete = 0;
        long aten = 0;
        long matmuls = 0;
        for (JsonNode e : events) {
            if ("X".equals(e.path("ph").asText())) {
                complete++;
                aten += e.path("name").asText().startsWith("aten::") ? 1 : 0;
                matmuls += e.path("name").asText().equals("aten::mm") ? 1 : 0;
            }
        }
        assertEquals(complete, p.get("ops").asLong());
        assertEquals(aten, p.get("aten_ops").asLong());
        // two layers with four LoRA projections each: at least a base and two LoRA products per projection
        assertTrue(matmuls >= 2 * 4 * 3, "aten::mm calls: " + matmuls);
        JsonNode top = p.get("top");
        assertTrue(top.size() > 0 && top.get(0).get("calls").asLong() >= top.get(top.size() - 1).get("calls").asLong());

        CliTest.Run evalToo = CliTest.run("bench", "--shape", "tiny", "--eval", "--steps", "1", "--device", "cpu",
                "--profile", tmp.resolve("x.json").toString());
        assertEquals(2, evalToo.code());
        assertTrue(evalToo.err().contains("--profile profiles a training step"), evalToo.err());
        CliTest.Run noFolder = CliTest.run("bench", "--shape", "tiny", "--steps", "1", "--device", "cpu",
                "--profile", tmp.resolve("missing/x.json").toString());
        assertEquals(2, noFolder.code());
        assertTrue(noFolder.err().contains("give a file in an existing folder"), noFolder.err());
    }

    @Test
    void evalBenchOnAModelFolderReportsQuestionsPerSecond() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        CliTest.Run r = CliTest.run("bench", "--model", dir.toString(), "--eval", "--steps", "2", "--warmup", "0",
                "--micro-batch", "3", "--seq-len", "16", "--device", "cpu", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals("eval", j.get("mode").asText());
        assertEquals(300, j.get("config").get("vocab_size").asInt());
        double median = j.get("step_time_s").get("median").asDouble();
        assertEquals(3 / median, j.get("questions_per_s").asDouble(), 1e-9 * j.get("questions_per_s").asDouble());
        assertTrue(j.get("mfu").isNull());
        assertFalse(j.has("losses"));
    }

    @Test
    void saveAdaptersWritesTheAdapterBeforeAndAfterAndEachStepsRecord() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        Path out = tmp.resolve("steps");
        // a limit far below the tiny model's gradient norm, so that every step is clipped
        CliTest.Run r = CliTest.run("bench", "--model", dir.toString(), "--steps", "2", "--warmup", "1",
                "--micro-batch", "2", "--seq-len", "16", "--grad-accum", "2", "--lora-dropout", "0",
                "--max-grad-norm", "1e-4", "--device", "cpu", "--json", "--save-adapters", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(r.out());
        assertEquals(out.toString(), j.get("adapters").asText());
        assertEquals(1e-4, j.get("max_grad_norm").asDouble());
        assertEquals(io.medqa.bench.Bench.LR, j.get("lr").asDouble());
        assertEquals("repeated", j.get("kv_heads").asText(), "sdpa on the CPU repeats the GQA model's kv heads");
        assertEquals(3, j.get("grad_norms").size());
        assertEquals(3, j.get("loss_scales").size());
        for (JsonNode n : j.get("grad_norms")) {
            assertTrue(n.asDouble() > 1e-4 && Double.isFinite(n.asDouble()), j.get("grad_norms").toString());
        }
        for (JsonNode s : j.get("loss_scales")) {
            assertEquals(1.0, s.asDouble(), "fp32 runs without loss scaling");
        }

        io.medqa.model.Qwen3Config base = io.medqa.model.Qwen3Config.load(dir);
        var initial = io.medqa.lora.AdapterFiles.read(out.resolve("initial"), base);
        var last = io.medqa.lora.AdapterFiles.read(out.resolve("final"), base);
        assertEquals(dir.toString(), initial.baseModel());
        assertEquals(0.0, initial.config().dropout());
        assertEquals(initial.weights().keySet(), last.weights().keySet());
        assertEquals(2 * 2 * 4, initial.weights().size()); // A and B of q/k/v/o in 2 layers
        for (var e : initial.weights().entrySet()) {
            float[] before = e.getValue();
            float[] after = last.weights().get(e.getKey());
            boolean isB = e.getKey().contains("lora_B");
            assertEquals(isB, maxAbs(before) == 0, e.getKey() + ": B starts at zero, A does not");
            // three AdamW steps at lr 2e-4 move every B entry (A's gradient is zero while B is)
            if (isB) {
                assertTrue(maxAbs(after) > 1e-4 && maxAbs(after) <= 3 * 2e-4 * 1.0001, e.getKey() + ": " + maxAbs(after));
            }
        }

        CliTest.Run eager = CliTest.run("bench", "--model", dir.toString(), "--steps", "1", "--warmup", "0",
                "--micro-batch", "1", "--seq-len", "8", "--attention", "eager", "--device", "cpu", "--json");
        assertEquals(0, eager.code(), eager.err());
        assertEquals("repeated", JSON.readTree(eager.out()).get("kv_heads").asText(), "eager repeats them as transformers does");

        CliTest.Run withEval = CliTest.run("bench", "--shape", "tiny", "--eval", "--device", "cpu",
                "--save-adapters", tmp.resolve("e").toString());
        assertEquals(2, withEval.code());
        assertTrue(withEval.err().contains("--save-adapters records training steps"), withEval.err());
        CliTest.Run badNorm = CliTest.run("bench", "--shape", "tiny", "--device", "cpu", "--max-grad-norm", "-1");
        assertEquals(2, badNorm.code());
        assertTrue(badNorm.err().contains("--max-grad-norm must be >= 0"), badNorm.err());
        CliTest.Run badScale = CliTest.run("bench", "--shape", "tiny", "--device", "cpu", "--loss-scale", "0");
        assertEquals(2, badScale.code());
        assertTrue(badScale.err().contains("--loss-scale must be > 0"), badScale.err());
    }

    private static double maxAbs(float[] values) {
        double m = 0;
        for (float v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void textReportAndBadOptions() {
        CliTest.Run text = CliTest.run("bench", "--shape", "tiny", "--steps", "1", "--warmup", "0", "--micro-batch", "1",
                "--seq-len", "8", "--device", "cpu");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("tokens/s") && text.out().contains("step time: median"), text.out());

        CliTest.Run shape = CliTest.run("bench", "--shape", "qwen3-99b");
        assertEquals(2, shape.code());
        assertTrue(shape.err().contains("--shape \"qwen3-99b\" is not one of qwen3-1.7b, qwen3-0.6b, tiny"), shape.err());
        CliTest.Run bf16 = CliTest.run("bench", "--shape", "tiny", "--precision", "bf16", "--device", "cpu");
        assertEquals(2, bf16.code());
        assertTrue(bf16.err().contains("--precision: dtype bf16 is not available"), bf16.err());
        CliTest.Run both = CliTest.run("bench", "--shape", "tiny", "--model", "x");
        assertEquals(2, both.code());
        CliTest.Run seq = CliTest.run("bench", "--shape", "tiny", "--seq-len", "1", "--device", "cpu");
        assertEquals(2, seq.code());
        assertTrue(seq.err().contains("--seq-len must be >= 2"), seq.err());
        CliTest.Run target = CliTest.run("bench", "--shape", "tiny", "--lora-targets", "q_proj,lm_head", "--device", "cpu");
        assertEquals(2, target.code());
        assertTrue(target.err().contains("--lora-targets"), target.err());
        CliTest.Run missing = CliTest.run("bench", "--model", tmp.resolve("none").toString(), "--device", "cpu");
        assertEquals(66, missing.code());
        CliTest.Run help = CliTest.run("bench", "--help");
        assertTrue(help.out().contains("Examples:"), help.out());
    }
}
