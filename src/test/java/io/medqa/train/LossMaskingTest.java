package io.medqa.train;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.medqa.data.MicroBatch;
import io.medqa.data.SampleEncoder;
import io.medqa.model.ForwardParityTestAccess;
import io.medqa.model.Qwen3Model;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The loss covers answer tokens only: prompt and padding never count. */
class LossMaskingTest {

    @TempDir
    Path tmp;

    static final SampleEncoder.Encoded SHORT = new SampleEncoder.Encoded(new int[] {257, 5, 6, 7, 65, 66, 258}, 4, "a");
    static final SampleEncoder.Encoded LONG =
            new SampleEncoder.Encoded(new int[] {257, 9, 9, 9, 9, 9, 9, 9, 70, 71, 72, 258}, 8, "b");

    @Test
    void microBatchPadsOnTheRightAndTargetsOnlyAnswerTokens() {
        MicroBatch mb = MicroBatch.of(List.of(SHORT, LONG), 256);
        assertEquals(2, mb.rows());
        assertEquals(12, mb.length());
        // row 0: positions 3..5 predict 65, 66, 258; row 1 (offset 12): positions 7..10 predict 70, 71, 72, 258
        assertArrayEquals(new long[] {3, 4, 5, 19, 20, 21, 22}, mb.positions());
        assertArrayEquals(new long[] {65, 66, 258, 70, 71, 72, 258}, mb.targets());
        assertEquals(256, mb.ids()[7]);
        assertEquals(256, mb.ids()[11]);
        assertEquals(7 + 12, mb.tokens());
    }

    @Test
    void answerLossEqualsTheMaskedFullLogitsLossAndIgnoresPadding() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        try (Qwen3Model model = Qwen3Model.load(TinyQwen3.write(tmp, spec, "F32", 1), Device.cpu(), DataType.FLOAT32);
             NDManager m = model.manager().newSubManager()) {
            // independent: log-softmax of the full logits of each sequence alone, summed at answer positions
            double expected = 0;
            for (SampleEncoder.Encoded e : List.of(SHORT, LONG)) {
                float[] logits = ForwardParityTestAccess.logits(model, new int[][] {e.ids()});
                for (int t = e.promptLength(); t < e.ids().length; t++) {
                    int row = (t - 1) * spec.vocab();
                    double max = Double.NEGATIVE_INFINITY;
                    for (int v = 0; v < spec.vocab(); v++) {
                        max = Math.max(max, logits[row + v]);
                    }
                    double sum = 0;
                    for (int v = 0; v < spec.vocab(); v++) {
                        sum += Math.exp(logits[row + v] - max);
                    }
                    expected -= logits[row + e.ids()[t]] - max - Math.log(sum);
                }
            }
            double batched = LossFunctions.answerNll(model, m, MicroBatch.of(List.of(SHORT, LONG), 256), false).getFloat();
            assertEquals(expected, batched, 1e-4 * Math.abs(expected));
            // padding cannot matter: each sample alone gives the same sum
            double alone = LossFunctions.answerNll(model, m, MicroBatch.of(List.of(SHORT), 256), false).getFloat()
                    + LossFunctions.answerNll(model, m, MicroBatch.of(List.of(LONG), 256), false).getFloat();
            assertEquals(alone, batched, 1e-4 * Math.abs(alone));
        }
    }
}
