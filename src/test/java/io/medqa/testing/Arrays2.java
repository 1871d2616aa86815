package io.medqa.testing;

/** Error measures used by parity tests. */
public final class Arrays2 {

    private Arrays2() {}

    /** max |a - b| / max |b|: the error relative to the largest reference value. */
    public static double maxRelativeError(float[] actual, double[] expected) {
        double maxErr = 0;
        double maxRef = 0;
        for (int i = 0; i < expected.length; i++) {
            maxErr = Math.max(maxErr, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxErr / maxRef;
    }

    public static double[] flatten(double[][] rows) {
        int n = 0;
        for (double[] r : rows) {
            n += r.length;
        }
        double[] out = new double[n];
        int k = 0;
        for (double[] r : rows) {
            System.arraycopy(r, 0, out, k, r.length);
            k += r.length;
        }
        return out;
    }
}
