package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training steps made ahead on a background thread are the steps the training loop made on its own:
 * the same batches in the same order across epochs, the same data positions, the same error at the
 * same step, and no thread left once they are closed.
 */
class TrainStepsTest {

    @TempDir
    static Path tmp;

    static QwenTokenizer tokenizer;

    @BeforeAll
    static void tokenizer() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("tokenizer"));
        TinyQwen3.writeTokenizer(dir);
        tokenizer = QwenTokenizer.load(dir);
    }

    @AfterAll
    static void closeTokenizer() {
        tokenizer.close();
    }

    /** {@code n} rows whose questions are numbered "Case 0:" ... so every sample can be told apart. */
    static Path rows(String name, int n) throws Exception {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n; i++) {
            out.append(row(i)).append('\n');
        }
        return Files.writeString(tmp.resolve(name), out.toString());
    }

    static String row(int i) {
        return "{\"question\":\"Case " + i + ": which organ" + " is".repeat(i % 5) + "?\",\"opa\":\"heart\","
                + "\"opb\":\"lung\",\"opc\":\"liver\",\"opd\":\"kidney\",\"cop\":" + (1 + i % 4)
                + ",\"exp\":\"Because.\"}";
    }

    static TrainData data(Path file, int shuffleBuffer, long seed) {
        TrainConfig.Data c = new TrainConfig.Data(file.toString(), null, null, "medmcqa", "1", 0, 512, "truncate",
                shuffleBuffer, "fail", 0, true);
        return new TrainData(file.toString(), c, tokenizer, seed);
    }

    /** The training loop as it was before steps were made ahead: take, and at an empty take the next epoch. */
    static List<String> loopOnItsOwnThread(TrainData data, int epoch, long consumed, int count, int perStep,
                                           int microBatch) {
        List<String> out = new ArrayList<>();
        loopOnItsOwnThread(data, epoch, consumed, count, perStep, microBatch, out);
        return out;
    }

    static void loopOnItsOwnThread(TrainData data, int epoch, long consumed, int count, int perStep, int microBatch,
                                   List<String> out) {
        TrainData.Epoch stream = data.epoch(epoch, consumed);
        try {
            while (out.size() < count) {
                List<MicroBatch> batches = stream.take(perStep, microBatch);
                if (batches.isEmpty()) {
                    stream.close();
                    stream = data.epoch(++epoch, 0);
                    continue;
                }
                out.add(describe(batches) + " @" + epoch + ":" + stream.consumed());
            }
        } finally {
            stream.close();
        }
    }

    static List<String> steps(TrainData data, int epoch, long consumed, int count, int perStep, int microBatch,
                              boolean prefetch) {
        List<String> out = new ArrayList<>();
        try (TrainData.Steps steps = data.steps(epoch, consumed, count, perStep, microBatch, prefetch)) {
            for (TrainData.Step s; (s = steps.next()) != null; ) {
                out.add(describe(s.batches()) + " @" + s.epoch() + ":" + s.consumed());
            }
        }
        return out;
    }

    static String describe(List<MicroBatch> batches) {
        StringBuilder b = new StringBuilder();
        for (MicroBatch mb : batches) {
            b.append('[').append(mb.rows()).append('x').append(mb.length()).append(' ').append(Arrays.toString(mb.ids()))
                    .append(Arrays.toString(mb.positions())).append(Arrays.toString(mb.targets())).append(mb.tokens())
                    .append(']');
        }
        return b.toString();
    }

    private static final Pattern CASE = Pattern.compile("Case (\\d+):");

    /** The case numbers of a step's rows, read back from the byte-level token ids. */
    static List<Integer> cases(List<MicroBatch> batches) {
        List<Integer> out = new ArrayList<>();
        for (MicroBatch mb : batches) {
            for (int r = 0; r < mb.rows(); r++) {
                byte[] bytes = new byte[mb.length()];
                int n = 0;
                for (int t = 0; t < mb.length(); t++) {
                    long id = mb.ids()[r * mb.length() + t];
                    if (id < 256) {
                        bytes[n++] = (byte) id;
                    }
                }
                Matcher m = CASE.matcher(new String(bytes, 0, n, StandardCharsets.UTF_8));
                assertTrue(m.find());
                out.add(Integer.parseInt(m.group(1)));
            }
        }
        return out;
    }

    static long prefetchThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(TrainData.PREFETCH_THREAD) && t.isAlive()).count();
    }

    @Test
    void prefetchedStepsAreTheLoopsBatchesOverSeveralShuffledEpochs() throws Exception {
        // 23 samples, steps of 6 in micro-batches of 4: 4 steps an epoch (6, 6, 6, 5), the last one short.
        TrainData data = data(rows("several.jsonl", 23), 7, 5);
        List<String> reference = loopOnItsOwnThread(data, 0, 0, 20, 6, 4);
        assertEquals(reference, steps(data, 0, 0, 20, 6, 4, false));
        assertEquals(reference, steps(data, 0, 0, 20, 6, 4, true));
        assertEquals(0, prefetchThreads());

        List<List<Integer>> epochs = new ArrayList<>();
        List<String> positions = new ArrayList<>();
        try (TrainData.Steps steps = data.steps(0, 0, 20, 6, 4, true)) {
            assertEquals(1, prefetchThreads());
            for (TrainData.Step s; (s = steps.next()) != null; ) {
                positions.add(s.epoch() + ":" + s.consumed());
                if (s.consumed() <= 6) {
                    epochs.add(new ArrayList<>());
                }
                epochs.get(epochs.size() - 1).addAll(cases(s.batches()));
            }
        }
        assertEquals(0, prefetchThreads());
        assertEquals(List.of("0:6", "0:12", "0:18", "0:23", "1:6", "1:12", "1:18", "1:23", "2:6"), positions.subList(0, 9));
        assertEquals(5, epochs.size());
        for (List<Integer> epoch : epochs) {
            assertEquals(23, epoch.size());
            assertEquals(23, epoch.stream().distinct().count(), "a sample twice in an epoch: " + epoch);
        }
        assertNotEquals(epochs.get(0), epochs.get(1), "each epoch is shuffled with its own seed");
        List<Integer> sorted = epochs.get(0).stream().sorted().toList();
        assertNotEquals(sorted, epochs.get(0), "the order is shuffled");
    }

    @Test
    void stoppingAfterAnyStepAndResumingAtItsPositionLosesAndRepeatsNothing() throws Exception {
        TrainData data = data(rows("resume.jsonl", 17), 5, 9);
        int count = 15; // 17 samples, steps of 5: 4 steps an epoch, so the run ends in its fourth epoch
        List<String> straight = steps(data, 0, 0, count, 5, 2, true);
        for (int k = 0; k <= count; k++) {
            List<String> got = new ArrayList<>();
            int epoch = 0;
            long consumed = 0;
            try (TrainData.Steps steps = data.steps(0, 0, count, 5, 2, true)) {
                for (int i = 0; i < k; i++) {
                    TrainData.Step s = steps.next();
                    got.add(describe(s.batches()) + " @" + s.epoch() + ":" + s.consumed());
                    epoch = s.epoch();
                    consumed = s.consumed();
                }
                Thread.sleep(2); // time for the thread to make step k + 1, which is then dropped
            }
            got.addAll(steps(data, epoch, consumed, count - k, 5, 2, true));
            assertEquals(straight, got, "stopped after step " + k);
        }
        assertEquals(0, prefetchThreads());
    }

    /** The step at which each way of making steps throws, and what it throws. */
    private static String failure(TrainData data, int perStep, int microBatch, boolean prefetch, boolean old) {
        List<String> made = new ArrayList<>();
        try {
            if (old) {
                loopOnItsOwnThread(data, 0, 0, 12, perStep, microBatch, made);
            } else {
                try (TrainData.Steps steps = data.steps(0, 0, 12, perStep, microBatch, prefetch)) {
                    for (TrainData.Step s; (s = steps.next()) != null; ) {
                        made.add(describe(s.batches()));
                    }
                }
            }
            return "no failure after " + made.size() + " steps";
        } catch (MedqaException e) {
            return "step " + (made.size() + 1) + ": exit " + e.exitCode() + ": " + e.getMessage();
        }
    }

    @Test
    void aBadRowFailsTheStepThatReachesItWithItsFileAndLine() throws Exception {
        Path file = rows("bad.jsonl", 30);
        TrainData data = data(file, 4, 3);
        // The file goes bad after the full pass that validated it, as a file edited during a run would.
        List<String> lines = new ArrayList<>(Files.readAllLines(file));
        lines.set(16, "{\"question\": ");
        Files.write(file, lines);

        String old = failure(data, 4, 2, false, true);
        assertEquals(old, failure(data, 4, 2, false, false));
        assertEquals(old, failure(data, 4, 2, true, false));
        // line 17 enters the shuffle buffer (4) when the 14th sample leaves it: in step 4 of 4 samples
        assertTrue(old.startsWith("step 4: exit " + ExitCodes.DATA + ": " + file + ":17: malformed JSON"), old);

        byte[] bytes = Files.readAllBytes(file);
        String text = new String(bytes, StandardCharsets.UTF_8);
        int line9 = 0;
        for (int i = 0; i < 8; i++) {
            line9 = text.indexOf('\n', line9) + 1;
        }
        bytes[line9 + 2] = (byte) 0xE9; // Latin-1 é inside line 9
        Files.write(file, bytes);
        String utf8 = failure(data, 4, 2, true, false);
        assertEquals(failure(data, 4, 2, false, true), utf8);
        assertTrue(utf8.startsWith("step 2: exit " + ExitCodes.DATA + ": " + file + ":9: not valid UTF-8"), utf8);
        assertEquals(0, prefetchThreads());
    }

    @Test
    void noThreadOutlivesItsStepsHoweverTheyEnd() throws Exception {
        TrainData data = data(rows("threads.jsonl", 40), 40, 1);
        try (TrainData.Steps steps = data.steps(0, 0, 10, 4, 4, true)) {
            Thread t = Thread.getAllStackTraces().keySet().stream()
                    .filter(x -> x.getName().equals(TrainData.PREFETCH_THREAD)).findFirst().orElseThrow();
            assertTrue(t.isDaemon());
            steps.next();
        }
        assertEquals(0, prefetchThreads(), "closed after one step of ten");
        try (TrainData.Steps steps = data.steps(0, 0, 3, 4, 4, true)) {
            for (int i = 0; i < 3; i++) {
                steps.next();
                if (i < 2) {
                    assertEquals(1, prefetchThreads(), "making step " + (i + 2));
                }
            }
            assertNull(steps.next());
        }
        assertEquals(0, prefetchThreads(), "closed after the last step");
        try (TrainData.Steps steps = data.steps(0, 39, 3, 4, 4, true)) {
            assertEquals(1, prefetchThreads());
        }
        assertEquals(0, prefetchThreads(), "closed during a resume's skip, before any step");
        try (TrainData.Steps steps = data.steps(0, 0, 3, 4, 4, false)) {
            steps.next();
            assertEquals(0, prefetchThreads(), "no thread without prefetch");
        }
        Path file = rows("threads-bad.jsonl", 20);
        TrainData bad = data(file, 2, 1);
        Files.writeString(file, "not json\n");
        try (TrainData.Steps steps = bad.steps(0, 0, 3, 4, 4, true)) {
            MedqaException e = assertThrows(MedqaException.class, steps::next);
            assertEquals(file + ":1: malformed JSON", e.getMessage().substring(0, e.getMessage().indexOf(" JSON") + 5));
        }
        assertEquals(0, prefetchThreads(), "closed after a failure");
    }

    /**
     * Many short runs of a few small epochs each, stopped at random steps and resumed, with the same
     * tokenizer encoding on another thread all along (as validation scoring does) and collections
     * forced: every epoch holds each sample once, the steps are those made without prefetch, the other
     * thread's encodings never change, nothing deadlocks, and no thread is left.
     */
    @Test
    void repeatedShortRunsUnderLoadLoseAndRepeatNoSample() throws Exception {
        int[] sizes = {1, 3, 5, 8};
        Map<Integer, TrainData> byRows = new HashMap<>();
        for (int n : sizes) {
            byRows.put(n, data(rows("load-" + n + ".jsonl", n), 1 + n / 2, n));
        }
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            texts.add(row(i * 7) + " <|im_start|>user\n" + "x".repeat(i));
        }
        List<int[]> expected = texts.stream().map(tokenizer::encode).toList();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<String> otherThread = new AtomicReference<>();
        Thread scorer = new Thread(() -> {
            for (long k = 0; !stop.get(); k++) {
                int i = (int) (k % texts.size());
                if (!Arrays.equals(expected.get(i), tokenizer.encode(texts.get(i)))) {
                    otherThread.compareAndSet(null, "encoding " + i + " changed");
                }
            }
        }, "steps-test-scorer");
        scorer.setDaemon(true);
        scorer.start();
        Random random = new Random(4);
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
                for (int round = 0; round < 200; round++) {
                    int n = sizes[random.nextInt(sizes.length)];
                    TrainData data = byRows.get(n);
                    int microBatch = 1 + random.nextInt(3);
                    int perStep = microBatch * (1 + random.nextInt(2));
                    int perEpoch = (n + perStep - 1) / perStep;
                    int count = perEpoch * (2 + random.nextInt(3));
                    List<String> reference = steps(data, 0, 0, count, perStep, microBatch, false);

                    List<String> got = new ArrayList<>();
                    Map<Integer, List<Integer>> epochs = new HashMap<>();
                    int epoch = 0;
                    long consumed = 0;
                    int done = 0;
                    while (done < count) { // stopped at a random step, resumed from its position
                        int stopAfter = 1 + random.nextInt(count - done);
                        try (TrainData.Steps steps = data.steps(epoch, consumed, count - done, perStep, microBatch, true)) {
                            for (int i = 0; i < stopAfter; i++) {
                                TrainData.Step s = steps.next();
                                got.add(describe(s.batches()) + " @" + s.epoch() + ":" + s.consumed());
                                epochs.computeIfAbsent(s.epoch(), e -> new ArrayList<>()).addAll(cases(s.batches()));
                                epoch = s.epoch();
                                consumed = s.consumed();
                                done++;
                            }
                        }
                    }
                    assertEquals(reference, got, "round " + round);
                    assertEquals(count / perEpoch, epochs.size(), "round " + round);
                    for (Map.Entry<Integer, List<Integer>> e : epochs.entrySet()) {
                        assertEquals(java.util.stream.IntStream.range(0, n).boxed().toList(),
                                e.getValue().stream().sorted().toList(), "round " + round + ", epoch " + e.getKey());
                    }
                    if (round % 20 == 0) {
                        System.gc();
                    }
                }
            });
        } finally {
            stop.set(true);
            scorer.join();
        }
        assertNull(otherThread.get());
        assertEquals(0, prefetchThreads());
    }

    @Test
    void tokenizingOnTwoThreadsGivesTheIdsOfOne() throws Exception {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            texts.add(row(i) + "<|im_end|>" + "é".repeat(i % 9));
        }
        List<int[]> serial = texts.stream().map(tokenizer::encode).toList();
        List<int[]> a = new ArrayList<>();
        List<int[]> b = new ArrayList<>();
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int round = 0; round < 20; round++) {
                a.clear();
                b.clear();
                Thread other = new Thread(() -> texts.forEach(t -> b.add(tokenizer.encode(t))), "steps-test-encode");
                other.start();
                texts.forEach(t -> a.add(tokenizer.encode(t)));
                other.join();
                for (int i = 0; i < texts.size(); i++) {
                    assertArrayEquals(serial.get(i), a.get(i));
                    assertArrayEquals(serial.get(i), b.get(i));
                }
            }
        });
    }
}
