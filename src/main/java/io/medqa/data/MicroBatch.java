package io.medqa.data;

import java.util.List;

/**
 * Samples padded to the longest of them (dynamic padding, on the right), on the host.
 *
 * @param ids (rows * length) row-major; padding is the pad id
 * @param positions flat indexes (row * length + t) of the positions whose next token is a target:
 *     the LM head runs on these rows only
 * @param targets the token each position must predict
 * @param tokens real (non-padding) tokens, for throughput
 */
public record MicroBatch(long[] ids, int rows, int length, long[] positions, long[] targets, int tokens) {

    public static MicroBatch of(List<SampleEncoder.Encoded> samples, int padId) {
        int rows = samples.size();
        int length = 0;
        int targetCount = 0;
        int tokens = 0;
        for (SampleEncoder.Encoded e : samples) {
            length = Math.max(length, e.ids().length);
            targetCount += e.targetLength();
            tokens += e.ids().length;
        }
        long[] ids = new long[rows * length];
        java.util.Arrays.fill(ids, padId);
        long[] positions = new long[targetCount];
        long[] targets = new long[targetCount];
        int k = 0;
        for (int r = 0; r < rows; r++) {
            int[] s = samples.get(r).ids();
            for (int t = 0; t < s.length; t++) {
                ids[r * length + t] = s[t];
            }
            // position t predicts token t + 1: targets start at promptLength, so positions start one earlier
            for (int t = samples.get(r).promptLength(); t < s.length; t++) {
                positions[k] = (long) r * length + t - 1;
                targets[k] = s[t];
                k++;
            }
        }
        return new MicroBatch(ids, rows, length, positions, targets, tokens);
    }

    public int targetCount() {
        return targets.length;
    }
}
