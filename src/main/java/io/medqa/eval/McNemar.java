package io.medqa.eval;

/**
 * The exact McNemar test for two models on the same questions: of the discordant pairs, b questions
 * only the base answered right and c only the new model; under "no difference" b ~ Binomial(b + c, 1/2),
 * and the two-sided p-value is min(1, 2 P(X <= min(b, c))). Exact rather than the chi-squared
 * approximation because per-set discordant counts are often small (McNemar 1947; Fagerland et al.,
 * BMC Med Res Methodol 2013, recommend the exact or mid-p form).
 */
public final class McNemar {

    public static final double ALPHA = 0.05;

    private McNemar() {}

    /** Two-sided exact p-value for b and c discordant counts. */
    public static double exactP(long b, long c) {
        long n = b + c;
        if (n == 0) {
            return 1.0;
        }
        long k = Math.min(b, c);
        // Sum in log space: 0.5^n underflows a double past n = 1074.
        double[] logFact = new double[(int) n + 1];
        for (int i = 1; i <= n; i++) {
            logFact[i] = logFact[i - 1] + Math.log(i);
        }
        double log2 = Math.log(2);
        double tail = 0;
        for (long i = 0; i <= k; i++) {
            tail += Math.exp(logFact[(int) n] - logFact[(int) i] - logFact[(int) (n - i)] - n * log2);
        }
        return Math.min(1.0, 2 * tail);
    }

    public static boolean significant(double p) {
        return p < ALPHA;
    }
}
