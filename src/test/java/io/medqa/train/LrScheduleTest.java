package io.medqa.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The schedule against transformers' get_{cosine,linear}_schedule_with_warmup, to the bit: the expected
 * values are optimizer.param_groups[0]["lr"] before each step, as transformers 5.18 and torch 2.13's
 * LambdaLR computed them for a base lr of 3e-4, 7 warmup steps and 250 steps in all.
 */
class LrScheduleTest {

    private static final int[] STEPS = {1, 2, 3, 4, 5, 6, 7, 8, 100, 249};
    private static final double[] COSINE = {4.285714285714285e-05, 8.57142857142857e-05, 0.00012857142857142855,
        0.0001714285714285714, 0.00021428571428571427, 0.0002571428571428571, 0.0003, 0.00029998746447831555,
        0.00020402665872070654, 1.253552168440919e-08};
    private static final double[] LINEAR = {4.285714285714285e-05, 8.57142857142857e-05, 0.00012857142857142855,
        0.0001714285714285714, 0.00021428571428571427, 0.0002571428571428571, 0.0003, 0.0002987654320987654,
        0.00018518518518518515, 1.234567901234568e-06};

    @Test
    void equalsTransformersSchedulesToTheBit() {
        LrSchedule cosine = new LrSchedule("cosine", 3e-4, 250, 7);
        LrSchedule linear = new LrSchedule("linear", 3e-4, 250, 7);
        assertEquals(0.0, cosine.lr(0), 0.0);
        for (int i = 0; i < STEPS.length; i++) {
            assertEquals(COSINE[i], cosine.lr(STEPS[i]), 0.0, "cosine, step " + STEPS[i]);
            assertEquals(LINEAR[i], linear.lr(STEPS[i]), 0.0, "linear, step " + STEPS[i]);
        }
    }

    /**
     * Schedule points where Java's Math.cos and the C library's cos (Python's math.cos, on glibc) differ
     * in the last bit: {total steps, step, transformers' lr at peak 3e-4 without warmup}.
     */
    private static final double[][] COSINE_LAST_BIT = {
        {97, 56, 0.00011392125654506198},
        {125, 71, 0.00011819893351169183},
        {1000, 568, 0.00011819893351169183},
        {1000, 579, 0.00011315313432113607},
        {1999, 615, 0.0002352246350799863},
        {3125, 1775, 0.00011819893351169183},
        {3125, 1957, 9.205806577985764e-05},
    };

    @Test
    void cosineTakesTheCLibrarysCosAsPythonDoes() {
        assertTrue(Libm.isNative(), "the C math library did not load");
        int javaDiffers = 0;
        for (double[] c : COSINE_LAST_BIT) {
            LrSchedule s = new LrSchedule("cosine", 3e-4, (int) c[0], 0);
            assertEquals(c[2], s.lr((int) c[1]), 0.0, "step " + (int) c[1] + " of " + (int) c[0]);
            double progress = c[1] / c[0];
            javaDiffers += 3e-4 * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress))) != c[2] ? 1 : 0;
        }
        assertTrue(javaDiffers > 0, "Math.cos agreed with the C library on every point: the test shows nothing");
    }

    @Test
    void warmupMultipliesThePeakByTheRatioAsLambdaLrDoes() {
        // (peak * step) / warmup, the other order, gives another double at every warmup step here
        for (int i = 0; i < 6; i++) {
            assertNotEquals(COSINE[i], 3e-4 * STEPS[i] / 7, "step " + STEPS[i]);
        }
    }
}
