package io.medqa.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * One progress line on stderr: count/total, a bar, a caller-supplied detail (loss, rate), elapsed time and ETA.
 * On a terminal the line is redrawn in place; otherwise (CI, files) a line is printed every 5%.
 */
final class ProgressBar {

    private final PrintWriter err;
    private final String label;
    private final boolean interactive;
    private long total;
    private long first;
    private long startNanos;
    private int lastPercentPrinted = -1;
    private long lastDrawNanos;

    ProgressBar(PrintWriter err, String label) {
        this.err = err;
        this.label = label;
        this.interactive = System.console() != null;
    }

    void start(long firstDone, long total) {
        this.first = firstDone;
        this.total = total;
        this.startNanos = System.nanoTime();
    }

    void update(long done, String detail) {
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        long fresh = done - first;
        double rate = fresh > 0 ? fresh / elapsed : 0;
        String eta = rate > 0 ? clock((total - done) / rate) : "--:--";
        int percent = (int) (100 * done / Math.max(1, total));
        int width = 24;
        int filled = (int) (width * done / Math.max(1, total));
        String bar = "#".repeat(filled) + ".".repeat(width - filled);
        String line = String.format(Locale.ROOT, "%s %d/%d [%s] %3d%% %s %s elapsed, ETA %s", label, done, total, bar,
                percent, detail, clock(elapsed), eta);
        if (interactive) {
            long now = System.nanoTime();
            if (now - lastDrawNanos < 100_000_000L && done < total) {
                return; // at most ten redraws a second
            }
            lastDrawNanos = now;
            err.print("\r" + line + "\u001b[K");
            err.flush();
        } else if (percent / 5 != lastPercentPrinted / 5 || done == total) {
            lastPercentPrinted = percent;
            err.println(line);
            err.flush();
        }
    }

    /** Prints a message on its own line without breaking the bar. */
    void message(String text) {
        if (interactive) {
            err.print("\r\u001b[K");
        }
        err.println(text);
        err.flush();
    }

    void finish() {
        if (interactive) {
            err.println();
            err.flush();
        }
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }
}
