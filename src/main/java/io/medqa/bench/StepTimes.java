package io.medqa.bench;

import java.util.Arrays;

/** Summary of timed steps in seconds: median and spread. */
public record StepTimes(double median, double mean, double stdev, double min, double max, double[] all) {

    public static StepTimes of(double[] seconds) {
        double[] s = seconds.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        double mean = Arrays.stream(s).average().orElse(Double.NaN);
        double var = 0;
        for (double x : s) {
            var += (x - mean) * (x - mean);
        }
        double stdev = n > 1 ? Math.sqrt(var / (n - 1)) : 0;
        return new StepTimes(median, mean, stdev, s[0], s[n - 1], seconds.clone());
    }
}
