package io.medqa.model;

/** Lets tests in other packages reuse {@link ForwardParityTest#logits}. */
public final class ForwardParityTestAccess {

    private ForwardParityTestAccess() {}

    public static float[] logits(Qwen3Model model, int[][] batch) {
        return ForwardParityTest.logits(model, batch);
    }
}
