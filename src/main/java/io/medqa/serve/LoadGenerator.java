package io.medqa.serve;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Closed-loop load: {@code clients} threads each send one request, wait for the whole response, and send
 * the next, until {@code duration} has passed. Every request sent is counted as an answer (by status) or
 * an error: none can go missing from the totals.
 */
public final class LoadGenerator {

    /** @param statuses count per HTTP status; -1 counts requests that got no response (I/O error, timeout) */
    public record Report(long requests, double seconds, double[] latenciesMs, Map<Integer, Long> statuses) {

        public long ok() {
            return statuses.getOrDefault(200, 0L);
        }

        public long errors() {
            return requests - ok();
        }

        public double percentileMs(double p) {
            if (latenciesMs.length == 0) {
                return Double.NaN;
            }
            double[] sorted = latenciesMs.clone();
            Arrays.sort(sorted);
            int i = (int) Math.ceil(p / 100 * sorted.length) - 1; // nearest rank
            return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
        }

        public String summary() {
            return String.format(Locale.ROOT, "%d requests in %.1f s: %.1f requests/s, latency p50 %.1f ms, p99 %.1f ms, "
                            + "max %.1f ms; errors %d%s", requests, seconds, requests / seconds, percentileMs(50),
                    percentileMs(99), percentileMs(100), errors(), errors() == 0 ? "" : " " + statuses);
        }
    }

    private LoadGenerator() {}

    /**
     * @param bodies request bodies, sent in turn (client i starts at body i)
     * @param apiKey null for none
     */
    public static Report run(URI url, List<String> bodies, String apiKey, int clients, Duration duration,
                             Duration requestTimeout) throws InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        long end = System.nanoTime() + duration.toNanos();
        long t0 = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<List<long[]>>> results = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int first = c;
            results.add(pool.submit(() -> {
                List<long[]> mine = new ArrayList<>(); // {status, nanos}
                for (int i = first; System.nanoTime() < end; i++) {
                    HttpRequest.Builder b = HttpRequest.newBuilder(url).timeout(requestTimeout)
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(bodies.get(i % bodies.size())));
                    if (apiKey != null) {
                        b.header("Authorization", "Bearer " + apiKey);
                    }
                    long s = System.nanoTime();
                    int status;
                    try {
                        status = http.send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
                    } catch (java.io.IOException e) {
                        status = -1;
                    }
                    mine.add(new long[] {status, System.nanoTime() - s});
                }
                return mine;
            }));
        }
        pool.shutdown();
        pool.awaitTermination(duration.plus(requestTimeout).toMillis() + 10_000, TimeUnit.MILLISECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<Integer, Long> statuses = new TreeMap<>();
        List<Double> latencies = new ArrayList<>();
        long requests = 0;
        for (Future<List<long[]>> f : results) {
            List<long[]> mine;
            try {
                mine = f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("a load client failed", e.getCause());
            }
            for (long[] r : mine) {
                requests++;
                statuses.merge((int) r[0], 1L, Long::sum);
                if (r[0] == 200) {
                    latencies.add(r[1] / 1e6);
                }
            }
        }
        return new Report(requests, seconds, latencies.stream().mapToDouble(Double::doubleValue).toArray(), statuses);
    }
}
