package io.medqa.bench;

import io.medqa.data.MicroBatch;

/**
 * Benchmark token ids from SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014; the constants of java.util.SplittableRandom): token = next() mod vocab,
 * with next() read as an unsigned 64-bit integer. bench/hf_peft_bench.py implements the same
 * generator, so both benchmarks train on identical tokens: micro-batch after micro-batch from one
 * stream, each row-major (rows, seq_len).
 */
public final class SyntheticTokens {

    private long state;
    private final int vocab;

    public SyntheticTokens(long seed, int vocab) {
        this.state = seed;
        this.vocab = vocab;
    }

    /** The next raw 64-bit output. */
    public long nextLong() {
        state += 0x9E3779B97F4A7C15L;
        long z = state;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public int nextToken() {
        return (int) Long.remainderUnsigned(nextLong(), vocab);
    }

    /** (rows * seqLen) ids, row-major. */
    public int[][] rows(int rows, int seqLen) {
        int[][] out = new int[rows][seqLen];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < seqLen; t++) {
                out[r][t] = nextToken();
            }
        }
        return out;
    }

    /**
     * A training micro-batch with every position a target, as transformers' causal-LM loss with
     * labels = input_ids: position t predicts token t + 1, so each row has seqLen - 1 targets.
     */
    public MicroBatch microBatch(int rows, int seqLen) {
        int[][] ids = rows(rows, seqLen);
        long[] flat = new long[rows * seqLen];
        long[] positions = new long[rows * (seqLen - 1)];
        long[] targets = new long[positions.length];
        int k = 0;
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < seqLen; t++) {
                flat[r * seqLen + t] = ids[r][t];
                if (t + 1 < seqLen) {
                    positions[k] = (long) r * seqLen + t;
                    targets[k] = ids[r][t + 1];
                    k++;
                }
            }
        }
        return new MicroBatch(flat, rows, seqLen, positions, targets, rows * seqLen);
    }
}
