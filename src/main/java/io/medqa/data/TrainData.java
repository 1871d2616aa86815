package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.model.QwenTokenizer;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

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
        for (long i = 0; i < consumed && e.hasNext(); i++) {
            e.next();
        }
        return e;
    }

    /** An epoch's encoded samples in training order. Close it to release the file. */
    public final class Epoch implements Iterator<SampleEncoder.Encoded>, AutoCloseable {
        private final McqReader.Samples samples;
        private final Iterator<McqSample> shuffled;
        private final SampleEncoder encoder;
        private SampleEncoder.Encoded next;
        private long consumed;

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

        @Override
        public boolean hasNext() {
            while (next == null && shuffled.hasNext()) {
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
