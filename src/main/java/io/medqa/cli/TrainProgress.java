package io.medqa.cli;

import io.medqa.train.Trainer;

import java.io.PrintWriter;
import java.util.Locale;

/** The console side of a training run: the summary lines, then one progress bar. */
final class TrainProgress implements Trainer.Listener {

    private final ProgressBar bar;
    private volatile boolean started;

    TrainProgress(PrintWriter err) {
        this.bar = new ProgressBar(err, "step");
    }

    @Override
    public void started(int firstStep, int totalSteps, String summary) {
        started = true;
        summary.lines().forEach(bar::message);
        bar.start(firstStep - 1, totalSteps);
    }

    @Override
    public void step(Trainer.StepRecord r) {
        bar.update(r.step(), String.format(Locale.ROOT, "loss %.4f lr %.2e %,.0f tok/s%s", r.loss(), r.lr(),
                r.tokensPerSecond(), r.skipped() ? " (skipped: overflow)" : ""));
    }

    @Override
    public void evaluated(int step, double loss) {
        bar.message(String.format(Locale.ROOT, "step %d: eval_loss %.4f", step, loss));
    }

    /** Whether training reached its first step (setup passed every check). */
    boolean hasStarted() {
        return started;
    }

    @Override
    public void finished() {
        bar.finish();
    }
}
