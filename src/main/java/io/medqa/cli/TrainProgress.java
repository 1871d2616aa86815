package io.medqa.cli;

import io.medqa.train.Trainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintWriter;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * The console side of a training run: the summary lines, then one progress bar; and the run's story in
 * train.log: a line per optimizer step and a closing summary with the total time.
 */
final class TrainProgress implements Trainer.Listener {

    /** Steps the bar's tok/s averages over: one step's rate swings with its batch's lengths. */
    static final int RATE_WINDOW = 20;

    /** Per-step lines go to train.log only (see {@link LogSetup#STEPS}): the console has the bar. */
    private static final Logger STEPS = LoggerFactory.getLogger(LogSetup.STEPS);

    private final ProgressBar bar;
    private final ArrayDeque<Trainer.StepRecord> recent = new ArrayDeque<>();
    private long startNanos;
    private int firstStep;
    private Trainer.StepRecord last;
    private long tokens;
    private int skipped;
    private int evaluations;
    private double lastEvalLoss = Double.NaN;
    private volatile boolean started;

    TrainProgress(PrintWriter err) {
        this.bar = new ProgressBar(err, "step");
    }

    @Override
    public void started(int firstStep, int totalSteps, String summary) {
        started = true;
        summary.lines().forEach(bar::message);
        this.firstStep = firstStep;
        this.startNanos = System.nanoTime();
        bar.start(firstStep - 1, totalSteps);
    }

    @Override
    public void step(Trainer.StepRecord r) {
        last = r;
        tokens += r.tokens();
        skipped += r.skipped() ? 1 : 0;
        double rate = smoothedTokensPerSecond(r);
        STEPS.info(String.format(Locale.ROOT, "step %d/%d epoch %.2f loss %.4f lr %.3e grad_norm %.4f tok/s %.0f "
                        + "elapsed %.1fs%s", r.step(), r.totalSteps(), r.epoch(), r.loss(), r.lr(), r.gradNorm(), rate,
                r.elapsedSeconds(), r.skipped() ? " skipped (overflow)" : ""));
        bar.update(r.step(), String.format(Locale.ROOT, "epoch %.2f loss %.4f lr %.2e %,.0f tok/s%s", r.epoch(),
                r.loss(), r.lr(), rate, r.skipped() ? " (skipped: overflow)" : ""));
    }

    /** Tokens per second over the last {@link #RATE_WINDOW} steps (from their elapsed times). */
    double smoothedTokensPerSecond(Trainer.StepRecord r) {
        recent.addLast(r);
        if (recent.size() > RATE_WINDOW + 1) {
            recent.removeFirst();
        }
        if (recent.size() == 1) {
            return r.tokensPerSecond(); // nothing to average yet
        }
        Trainer.StepRecord oldest = recent.peekFirst();
        long windowTokens = recent.stream().skip(1).mapToLong(Trainer.StepRecord::tokens).sum();
        double seconds = r.elapsedSeconds() - oldest.elapsedSeconds();
        return seconds > 0 ? windowTokens / seconds : r.tokensPerSecond();
    }

    @Override
    public void evaluated(int step, double loss) {
        evaluations++;
        lastEvalLoss = loss;
        bar.message(String.format(Locale.ROOT, "step %d: eval_loss %.4f", step, loss));
    }

    /** Whether training reached its first step (setup passed every check). */
    boolean hasStarted() {
        return started;
    }

    @Override
    public void finished() {
        bar.finish();
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        if (last == null) {
            STEPS.info(String.format(Locale.ROOT, "finished: no step run; total time %s (%.1f s)",
                    ProgressBar.clock(seconds), seconds));
            return;
        }
        STEPS.info(String.format(Locale.ROOT, "finished: steps %d-%d of %d, epoch %.2f, final loss %.4f%s, %d skipped "
                        + "step(s), %,d tokens (%,.0f tok/s); total time %s (%.1f s)",
                firstStep, last.step(), last.totalSteps(), last.epoch(), last.loss(),
                evaluations > 0 ? String.format(Locale.ROOT, ", last eval_loss %.4f", lastEvalLoss) : "",
                skipped, tokens, tokens / Math.max(seconds, 1e-9), ProgressBar.clock(seconds), seconds));
    }
}
