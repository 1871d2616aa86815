package io.medqa.model;

import java.util.Arrays;
import java.util.Random;

/**
 * How the next token is chosen from the logits: greedy (argmax, first index on ties, as torch.argmax)
 * when temperature is 0, otherwise sampling after temperature, top-k and top-p filtering, applied in
 * that order as transformers' logits processors do.
 *
 * @param topK 0 keeps every token
 * @param topP 1.0 keeps every token
 */
public record Sampling(double temperature, int topK, double topP, long seed) {

    public static final Sampling GREEDY = new Sampling(0, 0, 1.0, 0);

    public Sampling {
        if (temperature < 0 || Double.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
    }

    public boolean greedy() {
        return temperature == 0;
    }

    /** A stateful chooser; one per generation so a seed reproduces the whole sequence. */
    public Chooser chooser() {
        return new Chooser(this, new Random(seed));
    }

    /** Picks token ids from fp32 logits on the host. */
    public static final class Chooser {
        private final Sampling s;
        private final Random random;

        Chooser(Sampling s, Random random) {
            this.s = s;
            this.random = random;
        }

        public int next(float[] logits) {
            if (s.greedy()) {
                return argmax(logits);
            }
            Integer[] order = new Integer[logits.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
            int keep = s.topK() > 0 ? Math.min(s.topK(), order.length) : order.length;
            double max = logits[order[0]] / s.temperature();
            double[] p = new double[keep];
            double sum = 0;
            for (int i = 0; i < keep; i++) {
                p[i] = Math.exp(logits[order[i]] / s.temperature() - max);
                sum += p[i];
            }
            // top-p: keep the smallest prefix whose probability reaches top_p (at least one token).
            double cumulative = 0;
            int nucleus = 0;
            while (nucleus < keep && (nucleus == 0 || cumulative < s.topP())) {
                cumulative += p[nucleus] / sum;
                nucleus++;
            }
            double total = 0;
            for (int i = 0; i < nucleus; i++) {
                total += p[i];
            }
            double u = random.nextDouble() * total;
            for (int i = 0; i < nucleus; i++) {
                u -= p[i];
                if (u <= 0) {
                    return order[i];
                }
            }
            return order[nucleus - 1];
        }

        static int argmax(float[] logits) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
    }
}
