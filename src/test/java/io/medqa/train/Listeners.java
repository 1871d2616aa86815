package io.medqa.train;

import java.util.ArrayList;
import java.util.List;

/** Trainer listeners for tests. */
final class Listeners {

    static final Trainer.Listener QUIET = new Recording();

    /** Keeps every step record. */
    static class Recording implements Trainer.Listener {
        final List<Trainer.StepRecord> steps = new ArrayList<>();
        final List<double[]> evals = new ArrayList<>();

        @Override
        public void started(int firstStep, int totalSteps, String summary) {
        }

        @Override
        public void step(Trainer.StepRecord record) {
            steps.add(record);
        }

        @Override
        public void evaluated(int step, double loss) {
            evals.add(new double[] {step, loss});
        }

        @Override
        public void finished() {
        }
    }

    private Listeners() {}
}
