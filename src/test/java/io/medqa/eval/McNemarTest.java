package io.medqa.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class McNemarTest {

    @Test
    void exactPValuesMatchHandComputedBinomialTails() {
        // No discordant pair: no evidence either way.
        assertEquals(1.0, McNemar.exactP(0, 0), 0);
        // b=0, c=5: 2 * (1/2)^5.
        assertEquals(0.0625, McNemar.exactP(0, 5), 1e-15);
        // b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
        assertEquals(22.0 / 1024, McNemar.exactP(1, 9), 1e-15);
        assertEquals(McNemar.exactP(1, 9), McNemar.exactP(9, 1), 0);
        // b=3, c=3: the tail past the middle counts twice, capped at 1.
        assertEquals(1.0, McNemar.exactP(3, 3), 0);
        // b=2, c=8: 2 * (1 + 10 + 45) / 1024.
        assertEquals(112.0 / 1024, McNemar.exactP(2, 8), 1e-15);
        // b=40, c=60: 2 * P(Bin(100, 1/2) <= 40) = 2 * 0.0284439668...
        assertEquals(0.0568879336, McNemar.exactP(40, 60), 1e-9);
    }

    @Test
    void largeCountsStayFiniteWhereHalfToTheNUnderflows() {
        // n = 2,200 > 1,074: 0.5^n is 0 in a double; the log-space sum must still give a sensible p.
        double balanced = McNemar.exactP(1100, 1100);
        assertEquals(1.0, balanced, 0);
        double skewed = McNemar.exactP(1000, 1200);
        assertTrue(skewed > 0 && skewed < 1e-4, "p " + skewed);
        assertTrue(McNemar.significant(skewed));
        assertFalse(McNemar.significant(McNemar.exactP(40, 60)));
        assertTrue(McNemar.significant(McNemar.exactP(1, 9)));
    }
}
