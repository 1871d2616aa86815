package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.model.QwenTokenizer;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CancellationException;

/**
 * The training samples as a sequence of epochs, each a stream: file order, the first max_samples
 * samples, a shuffle buffer seeded by (seed, epoch), then tokenization. Nothing is held beyond the
 * shuffle buffer. A position in an epoch is a count of samples, so a resumed run re-streams the epoch
 * and skips what was consumed, and sees exactly the samples the uninterrupted run saw.
 */
public final class TrainData {

    /** What a full pass found; the schedule's length comes from {@code samples}. */
    public record Summary(long samples, long skippedErrors, long truncated, long skippedOverlong, String note,
                          long tokens, long answerTokens, int longest) {}

    private final McqReader.Source source;
    private final TrainConfig.Data config;
    private final QwenTokenizer tokenizer;
    private final long seed;
    private final Summary summary;

    public TrainData(String spec, TrainConfig.Data config, QwenTokenizer tokenizer, long seed) {
        this(spec, null, config, tokenizer, seed);
    }

    /** @param split the split to take when {@code spec} is a dataset folder holding several (see DataFiles) */
    public TrainData(String spec, String split, TrainConfig.Data config, QwenTokenizer tokenizer, long seed) {
        this.source = McqReader.resolve(spec, split, config.format(), config.copBase(), config.onError().equals("skip"));
        this.config = config;
        this.tokenizer = tokenizer;
        this.seed = seed;
        this.summary = scan();
        if (summary.samples() == 0) {
            throw new MedqaException(ExitCodes.DATA, spec + ": the dataset is empty (" + summary.skippedErrors()
                    + " lines skipped as errors, " + summary.skippedOverlong() + " too long)");
        }
    }

    public Summary summary() {
        return summary;
    }

    public McqReader.Source source() {
        return source;
    }

    /** One full streaming pass: validates every line and counts what the epochs will hold. */
    private Summary scan() {
        SampleEncoder encoder = new SampleEncoder(tokenizer, config.maxSeqLen(), config.overlong());
        long kept = 0;
        long tokens = 0;
        long answerTokens = 0;
        int longest = 0;
        long errors;
        try (McqReader.Samples samples = McqReader.open(source)) {
            Iterator<McqSample> it = limited(samples);
            while (it.hasNext()) {
                SampleEncoder.Encoded e = encoder.encode(it.next());
                if (e != null) {
                    kept++;
                    tokens += e.ids().length;
                    answerTokens += e.targetLength();
                    longest = Math.max(longest, e.ids().length);
                }
            }
            errors = samples.skipped();
        }
        return new Summary(kept, errors, encoder.truncated(), encoder.skipped(), source.note(), tokens, answerTokens,
                longest);
    }

    private Iterator<McqSample> limited(Iterator<McqSample> in) {
        if (config.maxSamples() <= 0) {
            return in;
        }
        return new Iterator<>() {
            long n;

            @Override
            public boolean hasNext() {
                return n < config.maxSamples() && in.hasNext();
            }

            @Override
            public McqSample next() {
                n++;
                return in.next();
            }
        };
    }

    /** A pass over epoch {@code epoch}, positioned after its first {@code consumed} samples. */
    public Epoch epoch(int epoch, long consumed) {
        Epoch e = new Epoch(epoch);
        e.skip(consumed);
        return e;
    }

    /** One optimizer step's micro-batches and the data position after them: what a checkpoint saves. */
    public record Step(List<MicroBatch> batches, int epoch, long consumed) {}

    /**
     * The next {@code count} optimizer steps from the data position (epoch, consumed), each of up to
     * {@code perStep} samples in micro-batches of {@code microBatch}, epoch boundaries crossed as the
     * training loop needs (the last step of an epoch may be short). The batches are those that
     * {@code epoch(epoch, consumed)} then {@code take(perStep, microBatch)} step after step give. A step
     * holds host arrays only ({@link MicroBatch}): no tensor is made off the training thread, whose
     * {@code TrainStep} uploads them as before.
     *
     * @param prefetch make each step on a background thread while the caller trains on the one before
     *     (see {@link Prefetcher}); false makes it in {@link Steps#next()}
     */
    public Steps steps(int epoch, long consumed, int count, int perStep, int microBatch, boolean prefetch) {
        return new Steps(new StepMaker(epoch, consumed, count, perStep, microBatch), prefetch);
    }

    /** The name of the thread that prepares steps ahead. */
    public static final String PREFETCH_THREAD = "medqa-prefetch";

    /** A run's steps in order; close it to stop the thread (if any) and release the file. */
    public static final class Steps implements AutoCloseable {
        private final StepMaker maker;
        private final Prefetcher<Step> ahead;

        private Steps(StepMaker maker, boolean prefetch) {
            this.maker = maker;
            this.ahead = prefetch ? new Prefetcher<>(PREFETCH_THREAD, maker) : null;
        }

        /**
         * The next step, or null after the {@code count} asked for. A bad row throws here, at the step
         * that reaches it, with the message a read on this thread would give.
         */
        public Step next() {
            return ahead != null ? ahead.next() : maker.next();
        }

        @Override
        public void close() {
            if (ahead != null) {
                ahead.close();
            } else {
                maker.close();
            }
        }
    }

    /** Makes steps one after another, as the training loop used to on its own thread. */
    private final class StepMaker implements Prefetcher.Source<Step> {
        private final int perStep;
        private final int microBatch;
        private int left;
        private int epoch;
        private long consumed;
        private volatile Epoch stream;
        private volatile boolean cancelled;

        StepMaker(int epoch, long consumed, int count, int perStep, int microBatch) {
            this.epoch = epoch;
            this.consumed = consumed;
            this.left = count;
            this.perStep = perStep;
            this.microBatch = microBatch;
        }

        @Override
        public Step next() {
            if (left <= 0) {
                return null;
            }
            if (stream == null) {
                open(consumed);
            }
            List<MicroBatch> batches = stream.take(perStep, microBatch);
            if (batches.isEmpty()) { // epoch boundary
                stream.close();
                stream = null;
                epoch++;
                open(0);
                batches = stream.take(perStep, microBatch);
                if (batches.isEmpty()) {
                    throw new MedqaException(ExitCodes.DATA, source.files().get(0) + ": epoch " + epoch
                            + " holds no sample (the data changed during the run?)");
                }
            }
            left--;
            consumed = stream.consumed();
            return new Step(batches, epoch, consumed);
        }

        private void open(long skip) {
            Epoch e = new Epoch(epoch);
            stream = e;
            if (cancelled) { // cancel() may have run before stream was set: it read null
                e.cancel();
            }
            e.skip(skip);
        }

        @Override
        public void cancel() {
            cancelled = true;
            Epoch e = stream;
            if (e != null) {
                e.cancel();
            }
        }

        @Override
        public void close() {
            Epoch e = stream;
            stream = null;
            if (e != null) {
                e.close();
            }
        }
    }

    /**
     * An epoch's encoded samples in training order. Close it to release the file. Used by one thread at
     * a time (its reader, shuffle buffer and encoder counters are its own); only {@link #cancel()} may
     * come from another.
     */
    public final class Epoch implements Iterator<SampleEncoder.Encoded>, AutoCloseable {
        private final McqReader.Samples samples;
        private final Iterator<McqSample> shuffled;
        private final SampleEncoder encoder;
        private SampleEncoder.Encoded next;
        private long consumed;
        private volatile boolean cancelled;

        Epoch(int epoch) {
            this.samples = McqReader.open(source);
            this.shuffled = new ShuffleBuffer<>(limited(samples), config.shuffleBuffer(),
                    seed * 1_000_003L + epoch);
            this.encoder = new SampleEncoder(tokenizer, config.maxSeqLen(), config.overlong());
        }

        /** Samples handed out so far in this epoch: the data position saved in checkpoints. */
        public long consumed() {
            return consumed;
        }

        /** Makes a read under way on another thread stop at its next sample (a CancellationException). */
        void cancel() {
            cancelled = true;
        }

        private void skip(long n) {
            for (long i = 0; i < n && hasNext(); i++) {
                next();
            }
        }

        @Override
        public boolean hasNext() {
            while (next == null && shuffled.hasNext()) {
                if (cancelled) {
                    throw new CancellationException("epoch read cancelled");
                }
                next = encoder.encode(shuffled.next());
            }
            return next != null;
        }

        @Override
        public SampleEncoder.Encoded next() {
            if (!hasNext()) {
                throw new java.util.NoSuchElementException();
            }
            SampleEncoder.Encoded e = next;
            next = null;
            consumed++;
            return e;
        }

        /** Up to {@code count} samples split into micro-batches of at most {@code microBatch}. */
        public List<MicroBatch> take(int count, int microBatch) {
            List<MicroBatch> out = new ArrayList<>();
            List<SampleEncoder.Encoded> group = new ArrayList<>();
            for (int i = 0; i < count && hasNext(); i++) {
                group.add(next());
                if (group.size() == microBatch) {
                    out.add(MicroBatch.of(group, tokenizer.padId()));
                    group = new ArrayList<>();
                }
            }
            if (!group.isEmpty()) {
                out.add(MicroBatch.of(group, tokenizer.padId()));
            }
            return out;
        }

        @Override
        public void close() {
            samples.close();
        }
    }
}
