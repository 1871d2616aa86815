package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one-ahead hand-off between a background thread and its consumer. */
class PrefetcherTest {

    private static final String NAME = "prefetcher-test";

    /** Counts 0, 1, ... up to {@code count}; {@code failAt} throws {@code failure} instead of that item. */
    static final class Counting implements Prefetcher.Source<Integer> {
        final int count;
        final int failAt;
        final RuntimeException failure;
        final AtomicInteger started = new AtomicInteger();
        final AtomicReference<Thread> madeOn = new AtomicReference<>();
        final AtomicBoolean closed = new AtomicBoolean();
        volatile boolean workerAliveAtClose;
        final long sleepNanos;

        Counting(int count, int failAt, RuntimeException failure, long sleepNanos) {
            this.count = count;
            this.failAt = failAt;
            this.failure = failure;
            this.sleepNanos = sleepNanos;
        }

        @Override
        public Integer next() {
            madeOn.set(Thread.currentThread());
            int i = started.getAndIncrement();
            if (sleepNanos > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(sleepNanos);
            }
            if (i == failAt) {
                throw failure;
            }
            return i < count ? i : null;
        }

        @Override
        public void close() {
            Thread worker = madeOn.get();
            workerAliveAtClose = worker != null && worker.isAlive();
            assertFalse(closed.getAndSet(true), "closed twice");
        }
    }

    static long threadsNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name) && t.isAlive()).count();
    }

    @Test
    void itemsComeInOrderFromADaemonThreadAtMostOneAhead() throws Exception {
        Counting source = new Counting(20, -1, null, 0);
        try (Prefetcher<Integer> p = new Prefetcher<>(NAME, source)) {
            for (int i = 0; i < 20; i++) {
                assertEquals(i, p.next());
                // The consumer is slow: given the time, the thread makes the next item and no more.
                Thread.sleep(3);
                assertTrue(source.started.get() <= i + 2, "made " + source.started.get() + " after taking " + (i + 1));
            }
            assertNull(p.next());
            assertNull(p.next());
            assertTrue(source.madeOn.get().isDaemon());
            assertEquals(NAME, source.madeOn.get().getName());
            assertFalse(source.madeOn.get() == Thread.currentThread());
        }
        assertTrue(source.closed.get());
        assertFalse(source.workerAliveAtClose, "the source was closed while its thread ran");
        assertEquals(0, threadsNamed(NAME));
    }

    @Test
    void aFailureIsThrownByTheNextOfItsItemAfterTheItemsBeforeIt() {
        MedqaException bad = new MedqaException(ExitCodes.DATA, "train.jsonl:7: malformed JSON");
        Counting source = new Counting(10, 3, bad, 0);
        try (Prefetcher<Integer> p = new Prefetcher<>(NAME, source)) {
            assertEquals(0, p.next());
            assertEquals(1, p.next());
            assertEquals(2, p.next());
            assertSame(bad, assertThrows(MedqaException.class, p::next));
            assertSame(bad, assertThrows(MedqaException.class, p::next), "a later next() says the same");
            assertEquals(4, source.started.get(), "nothing is made after a failure");
        }
        assertEquals(0, threadsNamed(NAME));

        OutOfMemoryError oom = new OutOfMemoryError("test");
        Prefetcher.Source<Integer> throwsError = new Prefetcher.Source<>() {
            @Override
            public Integer next() {
                throw oom;
            }

            @Override
            public void close() {}
        };
        try (Prefetcher<Integer> p = new Prefetcher<>(NAME, throwsError)) {
            assertSame(oom, assertThrows(OutOfMemoryError.class, p::next));
        }
        assertEquals(0, threadsNamed(NAME));
    }

    @Test
    void closeCancelsAnItemUnderWayThenClosesTheSource() {
        CountDownLatch inside = new CountDownLatch(1);
        AtomicBoolean cancelled = new AtomicBoolean();
        AtomicBoolean closedAfterThreadEnded = new AtomicBoolean();
        AtomicReference<Thread> worker = new AtomicReference<>();
        Prefetcher.Source<Integer> slow = new Prefetcher.Source<>() {
            @Override
            public Integer next() {
                worker.set(Thread.currentThread());
                inside.countDown();
                while (!cancelled.get()) { // a long read that stops when told
                    Thread.onSpinWait();
                }
                throw new CancellationException();
            }

            @Override
            public void cancel() {
                cancelled.set(true);
            }

            @Override
            public void close() {
                closedAfterThreadEnded.set(!worker.get().isAlive());
            }
        };
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            Prefetcher<Integer> p = new Prefetcher<>(NAME, slow);
            assertTrue(inside.await(5, TimeUnit.SECONDS));
            p.close();
            p.close(); // idempotent
            assertThrows(IllegalStateException.class, p::next);
        });
        assertTrue(cancelled.get());
        assertTrue(closedAfterThreadEnded.get());
        assertEquals(0, threadsNamed(NAME));
    }

    @Test
    void anInterruptedConsumerStillGetsItsItemAndKeepsTheInterrupt() {
        Counting source = new Counting(3, -1, null, TimeUnit.MILLISECONDS.toNanos(20));
        try (Prefetcher<Integer> p = new Prefetcher<>(NAME, source)) {
            Thread.currentThread().interrupt();
            assertEquals(0, p.next());
            assertTrue(Thread.interrupted());
        }
        assertEquals(0, threadsNamed(NAME));
    }

    @Test
    void manyShortLivedPrefetchersUnderLoadLoseAndRepeatNothing() {
        Random random = new Random(11);
        AtomicBoolean stop = new AtomicBoolean();
        // Load on the other core(s): allocation and garbage while the hand-offs run.
        Thread load = new Thread(() -> {
            List<long[]> junk = new ArrayList<>();
            while (!stop.get()) {
                junk.add(new long[1024]);
                if (junk.size() > 256) {
                    junk.clear();
                }
            }
        }, "prefetcher-test-load");
        load.setDaemon(true);
        load.start();
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
                for (int round = 0; round < 1500; round++) {
                    int count = random.nextInt(12);
                    int failAt = random.nextInt(4) == 0 ? random.nextInt(count + 1) : -1;
                    int stopAfter = random.nextInt(3) == 0 ? random.nextInt(count + 1) : Integer.MAX_VALUE;
                    RuntimeException failure = new MedqaException(ExitCodes.DATA, "round " + round);
                    Counting source = new Counting(count, failAt, failure, random.nextInt(3) == 0 ? 20_000 : 0);
                    List<Integer> got = new ArrayList<>();
                    RuntimeException thrown = null;
                    try (Prefetcher<Integer> p = new Prefetcher<>(NAME, source)) {
                        while (got.size() < stopAfter) {
                            Integer i = p.next();
                            if (i == null) {
                                break;
                            }
                            got.add(i);
                            if (random.nextBoolean()) {
                                Thread.yield();
                            }
                        }
                    } catch (MedqaException e) {
                        thrown = e;
                    }
                    int expectedItems = Math.min(stopAfter, failAt >= 0 ? failAt : count);
                    assertEquals(expectedItems, got.size(), "round " + round + ": " + got);
                    for (int k = 0; k < got.size(); k++) {
                        assertEquals(k, got.get(k), "round " + round + ": " + got);
                    }
                    if (failAt >= 0 && stopAfter > failAt) {
                        assertSame(failure, thrown, "round " + round);
                    } else {
                        assertNull(thrown, "round " + round);
                    }
                    assertTrue(source.closed.get(), "round " + round);
                    assertFalse(source.workerAliveAtClose, "round " + round);
                    if (round % 100 == 0) {
                        System.gc();
                    }
                }
            });
        } finally {
            stop.set(true);
        }
        assertEquals(0, threadsNamed(NAME));
    }
}
