package io.medqa.serve;

import io.medqa.data.McqSample;
import io.medqa.model.Sampling;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one thread that touches the model. Requests are admitted up to a fixed number in flight (waiting or
 * running; the rest are refused, which the API answers with 503), then queue jobs here in arrival order.
 * Scoring jobs waiting together are taken out as one batch, one forward pass: on the demo model 8 questions
 * in one pass take a fraction of 8 passes (README, "Serving"). Generation runs one request at a time.
 */
public final class ModelWorker implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelWorker.class);

    /** @param finishReason stop, length (token limit), timeout, or cancelled (the client went away) */
    public record Completion(String text, int promptTokens, int completionTokens, String finishReason) {}

    /** Receives generated text as it becomes stable (no half UTF-8 character); called on the worker thread. */
    @FunctionalInterface
    public interface TextSink {
        void accept(String delta);
    }

    /** What /health reports; counters since start. */
    public record Stats(int capacity, int inFlight, int queued, long scored, long batches, int largestBatch,
                        long completions, long cancelled, long timedOut, long rejected) {}

    private sealed interface Job permits ScoreJob, GenerateJob {
        AtomicBoolean cancelled();
    }

    private record ScoreJob(McqSample sample, CompletableFuture<double[]> result, AtomicBoolean cancelled) implements Job {}

    private record GenerateJob(int[] prompt, int maxTokens, Sampling sampling, TextSink sink,
                               CompletableFuture<Completion> result, AtomicBoolean cancelled) implements Job {}

    private final Backend backend;
    private final int maxBatch;
    private final Duration timeout;
    private final Semaphore slots;
    private final int capacity;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition nonEmpty = lock.newCondition();
    private final ArrayDeque<Job> pending = new ArrayDeque<>();
    private boolean closed;
    private final Thread thread;

    private final AtomicLong scored = new AtomicLong();
    private final AtomicLong batches = new AtomicLong();
    private final AtomicInteger largestBatch = new AtomicInteger();
    private final AtomicLong completions = new AtomicLong();
    private final AtomicLong cancelledCount = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();

    /**
     * @param capacity requests admitted at once, waiting or running
     * @param maxBatch most questions per scoring pass (1: no batching)
     * @param timeout longest a generation may run, from its first step
     */
    public ModelWorker(Backend backend, int capacity, int maxBatch, Duration timeout) {
        if (capacity < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("capacity and maxBatch must be >= 1");
        }
        this.backend = backend;
        this.capacity = capacity;
        this.maxBatch = maxBatch;
        this.timeout = timeout;
        this.slots = new Semaphore(capacity);
        this.thread = new Thread(this::loop, "medqa-model");
        thread.setDaemon(true);
        thread.start();
    }

    public Backend backend() {
        return backend;
    }

    /** A request's place; closing it (once, on any path) lets the next request in. */
    public final class Permit implements AutoCloseable {
        private final AtomicBoolean released = new AtomicBoolean();

        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                slots.release();
            }
        }
    }

    /** @return null when {@code capacity} requests are already in flight */
    public Permit admit() {
        if (!slots.tryAcquire()) {
            rejected.incrementAndGet();
            return null;
        }
        return new Permit();
    }

    public CompletableFuture<double[]> score(McqSample sample, AtomicBoolean cancelled) {
        CompletableFuture<double[]> f = new CompletableFuture<>();
        enqueue(new ScoreJob(sample, f, cancelled));
        return f;
    }

    public CompletableFuture<Completion> generate(int[] prompt, int maxTokens, Sampling sampling, TextSink sink,
                                                  AtomicBoolean cancelled) {
        CompletableFuture<Completion> f = new CompletableFuture<>();
        enqueue(new GenerateJob(prompt, maxTokens, sampling, sink, f, cancelled));
        return f;
    }

    public Stats stats() {
        int queued;
        lock.lock();
        try {
            queued = pending.size();
        } finally {
            lock.unlock();
        }
        return new Stats(capacity, capacity - slots.availablePermits(), queued, scored.get(), batches.get(),
                largestBatch.get(), completions.get(), cancelledCount.get(), timedOut.get(), rejected.get());
    }

    private void enqueue(Job job) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the server is shutting down");
            }
            pending.addLast(job);
            nonEmpty.signal();
        } finally {
            lock.unlock();
        }
    }

    /** The next job, and with a scoring job every other scoring job waiting, up to maxBatch; empty when closed. */
    private List<Job> take() throws InterruptedException {
        lock.lock();
        try {
            while (pending.isEmpty() && !closed) {
                nonEmpty.await();
            }
            if (pending.isEmpty()) {
                return List.of();
            }
            Job first = pending.pollFirst();
            List<Job> out = new ArrayList<>(List.of(first));
            if (first instanceof ScoreJob) {
                for (Iterator<Job> it = pending.iterator(); it.hasNext() && out.size() < maxBatch; ) {
                    Job j = it.next();
                    if (j instanceof ScoreJob) {
                        out.add(j);
                        it.remove();
                    }
                }
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        while (true) {
            List<Job> jobs;
            try {
                jobs = take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                jobs = List.of();
            }
            if (jobs.isEmpty()) {
                return;
            }
            try {
                if (jobs.get(0) instanceof GenerateJob g) {
                    run(g);
                } else {
                    runScores(jobs);
                }
            } catch (RuntimeException | Error e) {
                LOG.error("model job failed: {}", e.toString(), e);
                for (Job j : jobs) {
                    (j instanceof ScoreJob s ? s.result() : ((GenerateJob) j).result()).completeExceptionally(e);
                }
            }
        }
    }

    private void runScores(List<Job> jobs) {
        List<ScoreJob> live = new ArrayList<>();
        for (Job j : jobs) {
            ScoreJob s = (ScoreJob) j;
            if (s.cancelled().get()) {
                cancelledCount.incrementAndGet();
                s.result().completeExceptionally(new CancellationException("client gone"));
            } else {
                live.add(s);
            }
        }
        if (live.isEmpty()) {
            return;
        }
        double[][] scores = backend.score(live.stream().map(ScoreJob::sample).toList());
        batches.incrementAndGet();
        largestBatch.accumulateAndGet(live.size(), Math::max);
        scored.addAndGet(live.size());
        for (int i = 0; i < live.size(); i++) {
            live.get(i).result().complete(scores[i]);
        }
    }

    private void run(GenerateJob g) {
        if (g.cancelled().get()) {
            cancelledCount.incrementAndGet();
            g.result().completeExceptionally(new CancellationException("client gone"));
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        String[] reason = {null};
        int[] ids = new int[g.maxTokens()];
        int[] n = {0};
        int[] sent = {0};
        Backend.Generated out = backend.generate(g.prompt(), g.maxTokens(), g.sampling(), id -> {
            ids[n[0]++] = id;
            if (g.sink() != null) {
                // Byte-level tokens can split a character: the whole text is decoded again and only a stable
                // new suffix goes out (text ending in U+FFFD waits for the next token).
                String text = backend.decode(Arrays.copyOf(ids, n[0]));
                if (!text.endsWith("\uFFFD") && text.length() > sent[0]) {
                    g.sink().accept(text.substring(sent[0]));
                    sent[0] = text.length();
                }
            }
            if (g.cancelled().get()) {
                reason[0] = "cancelled";
                return false;
            }
            if (System.nanoTime() > deadline) {
                reason[0] = "timeout";
                return false;
            }
            return true;
        });
        String text = backend.decode(out.ids());
        if (g.sink() != null && text.length() > sent[0]) {
            g.sink().accept(text.substring(sent[0]));
        }
        String finish = reason[0] != null ? reason[0] : out.stopped() ? "stop" : "length";
        switch (finish) {
            case "cancelled" -> cancelledCount.incrementAndGet();
            case "timeout" -> timedOut.incrementAndGet();
            default -> completions.incrementAndGet();
        }
        g.result().complete(new Completion(text, g.prompt().length, out.ids().length, finish));
    }

    /** Finishes the job running now, fails the waiting ones, and stops the thread. */
    @Override
    public void close() {
        List<Job> left;
        lock.lock();
        try {
            closed = true;
            left = new ArrayList<>(pending);
            pending.clear();
            nonEmpty.signalAll();
        } finally {
            lock.unlock();
        }
        for (Job j : left) {
            j.cancelled().set(true);
            (j instanceof ScoreJob s ? s.result() : ((GenerateJob) j).result())
                    .completeExceptionally(new CancellationException("the server is shutting down"));
        }
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
