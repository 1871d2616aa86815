package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.RealVocabRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same one-step `medqa train` run, repeated, gives the same gradients and adapter every time, on
 * Qwen3's real vocabulary and a Qwen-style tokenizer, while another thread keeps the garbage collector
 * busy (the condition under which arrays backed by freed Java memory used to corrupt the backward pass).
 */
class TrainStepExactnessTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void repeatedOneStepRunsCountEveryGradientUnderGcPressure() throws Exception {
        RealVocabRun run = new RealVocabRun(tmp, 8);
        AtomicBoolean stop = new AtomicBoolean();
        Thread busy = new Thread(() -> {
            long sink = 0;
            long lastGc = System.nanoTime();
            while (!stop.get()) {
                byte[] junk = new byte[1 << 12];
                sink += junk.length;
                if (System.nanoTime() - lastGc > 5_000_000) {
                    System.gc(); // a collection lets the JDK free every unreachable direct buffer
                    lastGc = System.nanoTime();
                }
            }
            if (sink < 0) {
                throw new AssertionError();
            }
        }, "gc-pressure");
        busy.setDaemon(true);
        busy.start();
        List<Double> gradNorms = new ArrayList<>();
        List<Double> losses = new ArrayList<>();
        byte[] firstAdapter = null;
        try {
            for (int r = 0; r < 5; r++) {
                Path out = tmp.resolve("out" + r);
                List<String> args = new ArrayList<>(List.of("train", "--config", "configs/qwen3-lora.yaml"));
                for (String o : run.overrides("output.dir=" + out)) {
                    args.add("--set");
                    args.add(o);
                }
                CliTest.Run result = CliTest.run(args.toArray(String[]::new));
                assertEquals(0, result.code(), result.err());
                JsonNode step1 = step1(out);
                gradNorms.add(step1.get("grad_norm").asDouble());
                losses.add(step1.get("loss").asDouble());
                byte[] adapter = Files.readAllBytes(out.resolve(LoraAdapter.WEIGHTS_FILE));
                if (firstAdapter == null) {
                    firstAdapter = adapter;
                } else {
                    assertArrayEquals(firstAdapter, adapter, "run " + r + " wrote a different adapter; grad norms "
                            + gradNorms);
                }
            }
        } finally {
            stop.set(true);
            busy.join();
        }
        assertTrue(gradNorms.get(0) > 0, "step-1 gradient norm is zero: " + gradNorms);
        for (double g : gradNorms) {
            assertEquals(gradNorms.get(0), g, 0.0, "step-1 grad_norm over identical runs: " + gradNorms);
        }
        for (double l : losses) {
            assertEquals(losses.get(0), l, 0.0, "step-1 loss over identical runs: " + losses);
        }
    }

    private static JsonNode step1(Path out) throws Exception {
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.has("grad_norm") && n.get("step").asInt() == 1) {
                return n;
            }
        }
        throw new AssertionError("no step 1 in " + out.resolve("metrics.jsonl") + ": "
                + Arrays.toString(Files.readAllLines(out.resolve("metrics.jsonl")).toArray()));
    }
}
