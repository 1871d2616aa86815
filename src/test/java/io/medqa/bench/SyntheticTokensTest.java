package io.medqa.bench;

import io.medqa.data.MicroBatch;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SyntheticTokensTest {

    /** SplitMix64 from seed 0: the reference outputs published with the algorithm (also java.util.SplittableRandom's mixer). */
    @Test
    void splitMix64MatchesTheReferenceSequence() {
        SyntheticTokens g = new SyntheticTokens(0, 2);
        assertEquals(0xE220A8397B1DCDAFL, g.nextLong());
        assertEquals(0x6E789E6AA1B965F4L, g.nextLong());
        assertEquals(0x06C45D188009454FL, g.nextLong());
    }

    /** Tokens are the outputs read as unsigned and reduced mod vocab: 0xE220... is above 2^63. */
    @Test
    void tokensAreUnsignedRemainders() {
        assertArrayEquals(new int[] {132399, 85364, 125647}, new SyntheticTokens(0, 151936).rows(1, 3)[0]);
        assertArrayEquals(new int[][] {{431, 500}, {335}}, new int[][] {
            new SyntheticTokens(0, 512).rows(1, 2)[0], {new SyntheticTokens(0, 512).rows(1, 3)[0][2]}});
    }

    /** Every position but the last of a row predicts the next token, as labels = input_ids in transformers. */
    @Test
    void microBatchTargetsAreTheNextTokens() {
        int[][] rows = new SyntheticTokens(5, 100).rows(2, 4);
        MicroBatch mb = new SyntheticTokens(5, 100).microBatch(2, 4);
        assertEquals(2, mb.rows());
        assertEquals(4, mb.length());
        assertEquals(8, mb.tokens());
        assertArrayEquals(new long[] {0, 1, 2, 4, 5, 6}, mb.positions());
        assertArrayEquals(new long[] {rows[0][1], rows[0][2], rows[0][3], rows[1][1], rows[1][2], rows[1][3]},
                mb.targets());
        assertEquals(rows[1][0], mb.ids()[4]);
    }
}
