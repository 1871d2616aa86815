package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.data.TrainData;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.TinyRun;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A run whose batches are made ahead on a background thread trains exactly as one that makes them on
 * its own thread: same losses, gradient norms, evaluations and adapter bytes, checkpoints holding the
 * data position of the last step trained, a bad row failing the same step, and no thread left after.
 */
class PrefetchTrainTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** 30 samples, steps of 8 (micro-batches of 4, accumulation 2): 4 steps an epoch, the last of 6 samples. */
    private static final String[] SETTINGS = {"train.epochs=2", "train.micro_batch_size=4", "train.grad_accum_steps=2",
        "lora.dropout=0.1", "data.shuffle_buffer=8", "train.eval_steps=6", "data.eval_max_samples=4",
        "train.save_steps=1000"};

    static long prefetchThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(TrainData.PREFETCH_THREAD) && t.isAlive()).count();
    }

    /** Records, at each step, how many prefetch threads are alive. */
    static final class Watching extends Listeners.Recording {
        final List<Long> threads = new ArrayList<>();
        final AtomicBoolean stop;
        final int stopAfter;

        Watching(AtomicBoolean stop, int stopAfter) {
            this.stop = stop;
            this.stopAfter = stopAfter;
        }

        @Override
        public void step(Trainer.StepRecord record) {
            super.step(record);
            threads.add(prefetchThreads());
            if (record.step() == stopAfter) {
                stop.set(true); // as Ctrl-C does
            }
        }
    }

    private static String[] with(String... extra) {
        String[] out = Arrays.copyOf(SETTINGS, SETTINGS.length + extra.length);
        System.arraycopy(extra, 0, out, SETTINGS.length, extra.length);
        return out;
    }

    /** Every metrics record's training and evaluation numbers, in order (times left out). */
    private static List<String> numbers(Path out) throws Exception {
        List<String> rows = new ArrayList<>();
        for (JsonNode n : TrainLoopTest.metrics(out)) {
            StringBuilder b = new StringBuilder("step " + n.get("step").asInt());
            for (String key : List.of("loss", "grad_norm", "lr", "epoch", "tokens", "eval_loss", "eval_accuracy")) {
                if (n.has(key)) {
                    b.append(' ').append(key).append('=').append(Double.doubleToRawLongBits(n.get(key).asDouble()));
                }
            }
            rows.add(b.toString());
        }
        return rows;
    }

    @Test
    void aRunTrainsBitForBitTheSameWithAndWithoutPrefetchAndLeavesNoThread() throws Exception {
        TinyRun run = new TinyRun(tmp, 30);
        Path off = tmp.resolve("off");
        Watching offWatch = new Watching(new AtomicBoolean(), -1);
        TrainLoopTest.train(run, null, offWatch, offWatch.stop, with("output.dir=" + off, "data.prefetch=false"));
        Path on = tmp.resolve("on");
        Watching onWatch = new Watching(new AtomicBoolean(), -1);
        TrainLoopTest.train(run, null, onWatch, onWatch.stop, with("output.dir=" + on));

        assertEquals(8, onWatch.steps.size());
        List<String> expected = numbers(off);
        assertEquals(8 + 2, expected.size(), "8 steps and 2 evaluations: " + expected);
        assertEquals(expected, numbers(on));
        assertArrayEquals(Files.readAllBytes(off.resolve(LoraAdapter.WEIGHTS_FILE)),
                Files.readAllBytes(on.resolve(LoraAdapter.WEIGHTS_FILE)));
        // the thread worked ahead during the run (not after its last step), never without prefetch
        assertEquals(1, onWatch.threads.get(0));
        assertTrue(offWatch.threads.stream().allMatch(n -> n == 0), offWatch.threads.toString());
        assertEquals(0, prefetchThreads());
    }

    private static JsonNode state(Path checkpoint) throws Exception {
        return JSON.readTree(checkpoint.resolve(Checkpoints.STATE).toFile());
    }

    @Test
    void aStoppedRunSavesThePositionOfItsLastTrainedStepAndResumesExactly() throws Exception {
        TinyRun run = new TinyRun(tmp, 30);
        Path straight = tmp.resolve("straight");
        TrainLoopTest.train(run, null, Listeners.QUIET, new AtomicBoolean(), with("output.dir=" + straight));
        List<String> expected = numbers(straight);

        // after step 2: 16 samples of epoch 0 trained (step 3's 8 were being made ahead);
        // after step 4: the whole of epoch 0 (step 5, in epoch 1, was made ahead)
        for (int[] stop : new int[][] {{2, 0, 16}, {4, 0, 30}}) {
            Path out = tmp.resolve("stopped-" + stop[0]);
            Watching w = new Watching(new AtomicBoolean(), stop[0]);
            Trainer.Result r = TrainLoopTest.train(run, null, w, w.stop, with("output.dir=" + out));
            assertTrue(r.interrupted());
            assertEquals(0, prefetchThreads(), "after the stop at step " + stop[0]);
            Path ckpt = out.resolve("checkpoint-" + stop[0]);
            JsonNode s = state(ckpt);
            assertEquals(stop[1], s.get("epoch").asInt(), "epoch saved at step " + stop[0]);
            assertEquals(stop[2], s.get("consumed").asLong(), "samples consumed saved at step " + stop[0]);

            TrainLoopTest.train(run, ckpt, Listeners.QUIET, new AtomicBoolean(), with("output.dir=" + out));
            assertEquals(expected, numbers(out), "resumed after step " + stop[0]);
            assertArrayEquals(Files.readAllBytes(straight.resolve(LoraAdapter.WEIGHTS_FILE)),
                    Files.readAllBytes(out.resolve(LoraAdapter.WEIGHTS_FILE)));
            assertEquals(0, prefetchThreads());
        }
    }

    /** Trains until the row at {@code line} (broken once the run has started) stops it; returns what it said. */
    private static String failingRun(TinyRun run, Path out, Path data, int line, boolean prefetch) throws Exception {
        Listeners.Recording rec = new Listeners.Recording() {
            @Override
            public void started(int firstStep, int totalSteps, String summary) {
                try { // after the pass that validated the file: as if it were edited during the run
                    List<String> lines = new ArrayList<>(Files.readAllLines(data));
                    lines.set(line - 1, "{\"question\": ");
                    Files.write(data, lines);
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        };
        MedqaException e = assertThrows(MedqaException.class, () -> TrainLoopTest.train(run, null, rec,
                new AtomicBoolean(), with("output.dir=" + out, "data.train=" + data, "data.prefetch=" + prefetch)));
        assertEquals(0, prefetchThreads());
        List<String> losses = rec.steps.stream().map(s -> s.step() + ":" + Double.doubleToRawLongBits(s.loss())).toList();
        return "after " + losses + ": exit " + e.exitCode() + ": " + e.getMessage();
    }

    @Test
    void aRowThatGoesBadFailsTheSameStepWithAndWithoutPrefetch() throws Exception {
        TinyRun run = new TinyRun(tmp, 30);
        Path a = Files.copy(run.train, tmp.resolve("a.jsonl"));
        Path b = Files.copy(run.train, tmp.resolve("b.jsonl"));
        String off = failingRun(run, tmp.resolve("off"), a, 20, false);
        String on = failingRun(run, tmp.resolve("on"), b, 20, true);
        assertEquals(off.replace(a.toString(), "FILE"), on.replace(b.toString(), "FILE"));
        // line 20 enters the shuffle buffer (8) as sample 13 leaves it: in step 2 (samples 9-16)
        assertTrue(on.matches("after \\[1:-?\\d+\\]: exit " + ExitCodes.DATA + ": " + java.util.regex.Pattern.quote(
                b + ":20: malformed JSON") + ".*"), on);
    }
}
