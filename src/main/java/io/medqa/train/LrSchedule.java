package io.medqa.train;

/**
 * Learning rate by optimizer step, as transformers' get_{cosine,linear,constant}_schedule_with_warmup:
 * linear warmup over ceil(warmup_ratio * total) steps, then cosine to 0, linear to 0, or constant.
 * {@code completed} counts finished steps, so the first update uses lr(0), which is 0 with warmup
 * (transformers steps the scheduler after the optimizer, with the same effect). Each value is computed
 * in the order LambdaLR and transformers' lambdas compute it, with the C library's cos as Python's
 * math.cos ({@link Libm}), so that the same step gets the same double (LrScheduleTest holds values
 * transformers computed).
 */
public record LrSchedule(String kind, double peak, int totalSteps, int warmupSteps) {

    public static LrSchedule of(String kind, double peak, int totalSteps, double warmupRatio) {
        return new LrSchedule(kind, peak, totalSteps, (int) Math.ceil(totalSteps * warmupRatio));
    }

    public double lr(int completed) {
        if (completed < warmupSteps) {
            // peak * (step / warmup), in that order: LambdaLR multiplies the base lr by the lambda's
            // ratio; (peak * step) / warmup rounds differently in the last bit
            return peak * ((double) completed / Math.max(1, warmupSteps));
        }
        double progress = (double) (completed - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case "cosine" -> peak * Math.max(0.0, 0.5 * (1.0 + Libm.cos(Math.PI * progress)));
            case "linear" -> peak * Math.max(0.0, (double) (totalSteps - completed) / Math.max(1, totalSteps - warmupSteps));
            default -> peak;
        };
    }
}
