package io.medqa.train;

/**
 * Everything besides tensors that a resumed run needs to continue as if never stopped.
 *
 * <p>There is no opaque RNG state to save: dropout draws from torch's generator re-seeded with
 * seed + step before every optimizer step, and the data order is a function of (seed, epoch), so
 * (seed, step, epoch, consumed) pins both.
 *
 * @param step optimizer steps completed
 * @param consumed samples of {@code epoch} already trained on
 * @param runId the run this checkpoint belongs to (see {@link RunFolder}); null in checkpoints of older medqa
 */
public record TrainerState(int step, int totalSteps, int epoch, long consumed, long seed, double lossScale,
                           int cleanSteps, long skippedSteps, int adamSteps, long tokensSeen, String configSha256,
                           String runId) {}
