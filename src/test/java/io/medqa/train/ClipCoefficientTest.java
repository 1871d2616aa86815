package io.medqa.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * The clipping coefficient against torch.nn.utils.clip_grad_norm_'s own, to the bit: each row's
 * expected value is what PyTorch 2.13 computed as
 * {@code torch.clamp(max_norm / (torch.tensor(norm) + 1e-6), max=1.0).item()} for the fp32 norm.
 * The first rows are cases where the same formula in double precision rounds to a different fp32
 * value (about one clipped step in six, in a sweep of norms from 1e-3 to 1e3), which would make every
 * clipped gradient, and so the update, differ in its last bit from PEFT's.
 */
class ClipCoefficientTest {

    /** {norm, max_norm, torch's coefficient}. */
    private static final double[][] TORCH = {
        {146.59954833984375, 1.0, 0.006821303628385067},
        {6.444124698638916, 5.0, 0.7759004831314087},
        {87.38221740722656, 0.3, 0.0034331930801272392},
        {187.58580017089844, 1.0, 0.0053308941423892975},
        {613.4761352539062, 5.0, 0.00815027579665184},
        {37.13703155517578, 0.3, 0.008078190498054028},
        // the double formula happens to agree on these
        {283.7333679199219, 0.3, 0.0010573307517915964},
        {10.677481651306152, 1.0, 0.09365503489971161},
    };
    private static final int DOUBLE_DIFFERS = 6;

    @Test
    void equalsClipGradNormToTheBit() {
        for (double[] row : TORCH) {
            assertEquals(row[2], TrainStep.clipCoefficient(row[0], row[1]), 0.0, "norm " + row[0] + ", max " + row[1]);
        }
    }

    @Test
    void theSameFormulaInDoublePrecisionWouldNot() {
        for (int i = 0; i < DOUBLE_DIFFERS; i++) {
            double[] row = TORCH[i];
            double inDouble = (float) Math.min(1.0, row[1] / (row[0] + 1e-6));
            assertNotEquals(row[2], inDouble, "norm " + row[0]);
        }
    }

    @Test
    void normsBelowTheLimitAreNotScaledAndOneAtTheLimitIsAsTorchScalesIt() {
        assertEquals(1.0, TrainStep.clipCoefficient(0.5, 1.0), 0.0);
        assertEquals(1.0, TrainStep.clipCoefficient(0.0, 1.0), 0.0);
        // the 1e-6 keeps a norm equal to the limit just inside: torch gives 1 / (1 + 1e-6) in fp32
        assertEquals(0.9999990463256836, TrainStep.clipCoefficient(1.0, 1.0), 0.0);
    }
}
