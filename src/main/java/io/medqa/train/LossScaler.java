package io.medqa.train;

/**
 * Dynamic loss scaling for fp16 (as torch.cuda.amp.GradScaler): the loss is multiplied by the scale
 * before backward so small fp16 gradients do not flush to zero. A step whose gradients hold inf or NaN
 * is skipped and the scale halves; after {@code growthInterval} clean steps in a row it doubles.
 */
public final class LossScaler {

    private final boolean enabled;
    private final int growthInterval;
    private double scale;
    private int cleanSteps;
    private long skippedSteps;

    public LossScaler(boolean enabled, double initialScale, int growthInterval) {
        this.enabled = enabled;
        this.scale = enabled ? initialScale : 1.0;
        this.growthInterval = growthInterval;
    }

    public double scale() {
        return scale;
    }

    public int cleanSteps() {
        return cleanSteps;
    }

    public long skippedSteps() {
        return skippedSteps;
    }

    /**
     * Records a step's outcome from the global gradient norm (scaled or not: only whether it is finite counts).
     *
     * @return true when the optimizer may step; false when this step must be skipped
     */
    public boolean update(double gradNorm) {
        if (!Double.isFinite(gradNorm)) {
            skippedSteps++;
            if (enabled) {
                scale *= 0.5;
                cleanSteps = 0;
            }
            return false;
        }
        if (enabled && ++cleanSteps >= growthInterval) {
            scale *= 2;
            cleanSteps = 0;
        }
        return true;
    }

    public void restore(double scale, int cleanSteps, long skippedSteps) {
        this.scale = scale;
        this.cleanSteps = cleanSteps;
        this.skippedSteps = skippedSteps;
    }
}
