package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.RealVocabRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A `medqa train` process stopped by SIGINT in the middle of its run, then resumed, ends with the
 * losses, gradient norms and adapter bytes of the same run left alone: on the real-vocabulary model,
 * with dropout and gradient accumulation, so the resumed run must restore the optimizer moments, the
 * data position (across epoch boundaries) and the dropout stream exactly.
 */
class SigintResumeTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 30;

    @TempDir
    Path tmp;

    @Test
    void sigintMidRunThenResumeEqualsTheUninterruptedRun() throws Exception {
        RealVocabRun run = new RealVocabRun(tmp, 8);
        // 8 rows in micro-batches of 2, two per step: 2 steps an epoch, so the run crosses 15 epochs.
        String[] settings = {"train.max_steps=" + STEPS, "train.micro_batch_size=2", "train.grad_accum_steps=2",
                "lora.dropout=0.1", "train.save_steps=1000", "train.lr=0.001", "data.max_seq_len=256"};

        Path straight = tmp.resolve("straight");
        CliTest.Run whole = CliTest.run(trainArgs(run, straight, settings, false));
        assertEquals(0, whole.code(), whole.err());

        Path broken = tmp.resolve("broken");
        int stoppedAt = interruptMidRun(trainArgs(run, broken, settings, false), broken);
        assertTrue(stoppedAt >= 5 && stoppedAt < STEPS, "interrupted at step " + stoppedAt);
        assertFalse(Files.exists(broken.resolve(LoraAdapter.WEIGHTS_FILE)), "an interrupted run wrote its final adapter");
        assertTrue(Files.isDirectory(broken.resolve("checkpoint-" + stoppedAt)), "no checkpoint at step " + stoppedAt);

        CliTest.Run resumed = CliTest.run(trainArgs(run, broken, settings, true));
        assertEquals(0, resumed.code(), resumed.err());

        List<double[]> expected = steps(straight);
        assertEquals(STEPS, expected.size());
        List<double[]> got = steps(broken);
        assertEquals(expected.size(), got.size(), "steps recorded after resume");
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), got.get(i), 0.0, "step " + (i + 1) + " (loss, grad_norm); interrupted at "
                    + stoppedAt);
        }
        assertArrayEquals(Files.readAllBytes(straight.resolve(LoraAdapter.WEIGHTS_FILE)),
                Files.readAllBytes(broken.resolve(LoraAdapter.WEIGHTS_FILE)), "adapter bytes after resume");
    }

    private static String[] trainArgs(RealVocabRun run, Path out, String[] settings, boolean resume) {
        List<String> args = new ArrayList<>(List.of("train", "--config", "configs/qwen3-lora.yaml"));
        List<String> overrides = new ArrayList<>(run.overrides("output.dir=" + out));
        overrides.addAll(List.of(settings));
        for (String o : overrides) {
            args.add("--set");
            args.add(o);
        }
        if (resume) {
            args.add("--resume");
        }
        return args.toArray(String[]::new);
    }

    /**
     * Runs the CLI in a child JVM, sends it SIGINT once at least five steps are logged, and returns the
     * step its checkpoint was saved at. Where the child was started with SIGINT ignored (a background
     * job of a non-interactive shell), the JVM cannot catch SIGINT at all and SIGTERM takes the same
     * shutdown path, so that is sent instead.
     */
    private int interruptMidRun(String[] args, Path out) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(List.of(args));
        Path log = tmp.resolve("child.log");
        Process child = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (lastStep(out) < 5) {
                assertTrue(child.isAlive(), () -> "child exited early: " + read(log));
                assertTrue(System.nanoTime() < deadline, () -> "no 5 steps in 120 s: " + read(log));
                Thread.sleep(20);
            }
            boolean intIgnored = signalIgnored(child.pid(), 2);
            new ProcessBuilder("kill", intIgnored ? "-TERM" : "-INT", Long.toString(child.pid())).start().waitFor();
            assertTrue(child.waitFor(120, TimeUnit.SECONDS), "child did not stop after the signal");
            int expectedCode = intIgnored ? 128 + 15 : ExitCodes.INTERRUPTED;
            assertEquals(expectedCode, child.exitValue(), () -> read(log));
        } finally {
            child.destroyForcibly();
        }
        List<Path> checkpoints;
        try (var s = Files.list(out)) {
            checkpoints = s.filter(p -> p.getFileName().toString().startsWith("checkpoint-")).toList();
        }
        assertEquals(1, checkpoints.size(), "checkpoints " + checkpoints);
        return Integer.parseInt(checkpoints.get(0).getFileName().toString().substring("checkpoint-".length()));
    }

    /** Bit {@code signal} of the SigIgn mask in /proc/PID/status. */
    private static boolean signalIgnored(long pid, int signal) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).trim(), 16) >> (signal - 1) & 1) == 1;
            }
        }
        return false;
    }

    private static int lastStep(Path out) {
        int last = 0;
        try {
            for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                if (line.contains("\"grad_norm\"") && line.endsWith("}")) {
                    last = Math.max(last, JSON.readTree(line).get("step").asInt());
                }
            }
        } catch (IOException notYet) {
            // not created yet, or a line half-written: look again shortly
        }
        return last;
    }

    /** (loss, grad_norm) of each optimizer step, in step order. */
    private static List<double[]> steps(Path out) throws IOException {
        List<double[]> steps = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.has("grad_norm")) {
                assertEquals(steps.size() + 1, n.get("step").asInt(), "step order in " + out);
                steps.add(new double[] {n.get("loss").asDouble(), n.get("grad_norm").asDouble()});
            }
        }
        return steps;
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
