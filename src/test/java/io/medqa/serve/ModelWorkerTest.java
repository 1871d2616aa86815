package io.medqa.serve;

import io.medqa.data.McqSample;
import io.medqa.model.Sampling;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The worker's shared state (the job queue, batching, admission permits, counters) under many threads,
 * round after round, with a backend that needs no model: each answer is a function of its own question,
 * so a result handed to the wrong request shows.
 */
class ModelWorkerTest {

    /** Scores: option i of question "q{n}" gets -(n + i); generation: n tokens of id n. Counts its callers' threads. */
    static final class Arithmetic implements Backend {
        final AtomicInteger threads = new AtomicInteger();
        volatile Thread seen;

        void onWorker() {
            if (seen != Thread.currentThread()) {
                seen = Thread.currentThread();
                threads.incrementAndGet();
            }
        }

        static int n(String q) {
            return Integer.parseInt(q.substring(1));
        }

        @Override
        public double[][] score(List<McqSample> batch) {
            onWorker();
            double[][] out = new double[batch.size()][];
            for (int r = 0; r < out.length; r++) {
                out[r] = new double[batch.get(r).options().size()];
                for (int i = 0; i < out[r].length; i++) {
                    out[r][i] = -(n(batch.get(r).question()) + i);
                }
            }
            return out;
        }

        @Override
        public Generated generate(int[] prompt, int maxNewTokens, Sampling sampling, TokenListener onToken) {
            onWorker();
            int n = Math.min(prompt[0] % 7 + 1, maxNewTokens);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = 'a' + prompt[0] % 26;
                if (!onToken.accept(ids[i])) {
                    return new Generated(java.util.Arrays.copyOf(ids, i + 1), false);
                }
            }
            return new Generated(ids, n < maxNewTokens);
        }

        @Override
        public int[] encode(String text) {
            return new int[] {n(text)};
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder b = new StringBuilder();
            for (int id : ids) {
                b.append((char) id);
            }
            return b.toString();
        }

        @Override
        public int contextLength() {
            return 4096;
        }

        @Override
        public int scoringTokens(McqSample s) {
            return 1;
        }
    }

    static McqSample question(int n, int options) {
        List<String> o = new ArrayList<>();
        for (int i = 0; i < options; i++) {
            o.add("o" + i);
        }
        return new McqSample("t", "q" + n, o, -1, null, null, "t");
    }

    @Test
    void everyRequestGetsItsOwnAnswerRoundAfterRound() throws Exception {
        Arithmetic backend = new Arithmetic();
        int clients = 16;
        try (ModelWorker worker = new ModelWorker(backend, clients, 8, Duration.ofSeconds(30))) {
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            long expectedScores = 0;
            long expectedCompletions = 0;
            for (int round = 0; round < 20; round++) {
                List<Future<?>> done = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    int base = round * 1000 + c * 50;
                    done.add(pool.submit(() -> {
                        for (int k = 0; k < 25; k++) {
                            int n = base + k;
                            try (ModelWorker.Permit p = worker.admit()) {
                                if (p == null) {
                                    throw new AssertionError("refused with " + clients + " slots for " + clients + " clients");
                                }
                                if (k % 5 == 4) {
                                    StringBuilder streamed = new StringBuilder();
                                    ModelWorker.Completion g = worker.generate(new int[] {n}, 64, Sampling.GREEDY,
                                            streamed::append, new AtomicBoolean()).get(10, TimeUnit.SECONDS);
                                    String want = String.valueOf((char) ('a' + n % 26)).repeat(n % 7 + 1);
                                    assertEquals(want, g.text());
                                    assertEquals(want, streamed.toString());
                                    assertEquals("stop", g.finishReason());
                                } else {
                                    int options = 2 + n % 4;
                                    double[] s = worker.score(question(n, options), new AtomicBoolean()).get(10, TimeUnit.SECONDS);
                                    double[] want = new double[options];
                                    for (int i = 0; i < options; i++) {
                                        want[i] = -(n + i);
                                    }
                                    assertArrayEquals(want, s);
                                }
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get(60, TimeUnit.SECONDS);
                }
                expectedScores += clients * 20L;
                expectedCompletions += clients * 5L;
                ModelWorker.Stats s = worker.stats();
                assertEquals(expectedScores, s.scored(), "round " + round);
                assertEquals(expectedCompletions, s.completions(), "round " + round);
                assertEquals(0, s.inFlight(), "round " + round + ": permits not returned");
                assertEquals(0, s.queued());
            }
            pool.shutdownNow();
            ModelWorker.Stats s = worker.stats();
            assertTrue(s.largestBatch() > 1 && s.largestBatch() <= 8, "largest batch " + s.largestBatch());
            assertTrue(s.batches() < s.scored(), s.toString());
        }
        assertEquals(1, backend.threads.get(), "the backend ran on more than one thread");
    }

    @Test
    void admissionStopsAtCapacityAndPermitsReturnOnce() {
        try (ModelWorker worker = new ModelWorker(new Arithmetic(), 2, 8, Duration.ofSeconds(1))) {
            ModelWorker.Permit a = worker.admit();
            ModelWorker.Permit b = worker.admit();
            assertNull(worker.admit());
            a.close();
            a.close(); // a second close must not free a second slot
            ModelWorker.Permit c = worker.admit();
            assertNull(worker.admit());
            b.close();
            c.close();
            assertEquals(0, worker.stats().inFlight());
            assertEquals(2, worker.stats().rejected());
        }
    }

    @Test
    void cancelledJobsAreSkippedAndCounted() throws Exception {
        try (ModelWorker worker = new ModelWorker(new Arithmetic(), 4, 8, Duration.ofSeconds(1))) {
            AtomicBoolean gone = new AtomicBoolean(true);
            CompletableFuture<double[]> f = worker.score(question(3, 2), gone);
            assertTrue(f.handle((v, e) -> e).get(5, TimeUnit.SECONDS) instanceof java.util.concurrent.CancellationException);
            AtomicBoolean leaves = new AtomicBoolean();
            ModelWorker.Completion g = worker.generate(new int[] {6}, 64, Sampling.GREEDY, d -> leaves.set(true), leaves)
                    .get(5, TimeUnit.SECONDS);
            assertEquals("cancelled", g.finishReason());
            assertEquals(1, g.completionTokens());
            assertEquals(2, worker.stats().cancelled());
        }
    }
}
