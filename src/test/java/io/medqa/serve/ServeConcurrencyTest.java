package io.medqa.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.medqa.data.McqSample;
import io.medqa.model.Sampling;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Many clients at once over HTTP on the real tiny model: none lost, 503 past the queue, disconnects free slots. */
class ServeConcurrencyTest {

    @TempDir
    static Path tmp;

    static TinyRun run;

    @BeforeAll
    static void model() throws Exception {
        run = new TinyRun(tmp, 8);
    }

    static String question(int i) {
        return "A patient has finding number " + i + ". Which organ is involved?";
    }

    static final String[] OPTIONS = {"heart", "lung", "liver", "kidney"};

    @Test
    void concurrentClientsAreAllAnsweredAsIfAlone() throws Exception {
        try (ServeFixture serve = new ServeFixture(run, null, ServeFixture.Settings.defaults().capacity(64), null)) {
            int kinds = 6;
            JsonNode[] alone = new JsonNode[kinds];
            for (int i = 0; i < kinds; i++) {
                alone[i] = request(serve, i).json();
            }
            int clients = 16;
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            int total = 0;
            for (int round = 0; round < 3; round++) {
                CountDownLatch go = new CountDownLatch(1);
                List<Future<int[]>> results = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    int kind = (c + round) % kinds;
                    results.add(pool.submit(() -> {
                        go.await();
                        ServeFixture.Reply r = request(serve, kind);
                        return new int[] {r.status(), same(alone[kind], r.json(), kind) ? 1 : 0};
                    }));
                }
                go.countDown();
                for (Future<int[]> f : results) {
                    int[] r = f.get(120, TimeUnit.SECONDS);
                    assertEquals(200, r[0]);
                    assertEquals(1, r[1], "an answer differs from the same request made alone");
                }
                total += clients;
            }
            pool.shutdownNow();
            JsonNode h = serve.health();
            int scoring = 0;
            for (int i = 0; i < kinds; i++) {
                scoring += i % 3 != 2 ? 1 : 0;
            }
            assertEquals(0, h.get("queue").get("in_flight").asInt());
            assertEquals(0, h.get("rejected").asInt());
            // Every request made (alone first, then the rounds) was scored or generated exactly once.
            long scoredExpected = scoring + total * scoring / kinds;
            assertEquals(scoredExpected, h.get("scored").asLong(), h.toString());
            assertEquals(kinds + total - scoredExpected, h.get("completions").asLong(), h.toString());
            assertTrue(h.get("largest_batch").asInt() > 1, "16 clients at once, yet no scoring batch: " + h);
        }
    }

    /** Kinds 0, 1, 3, 4: scoring only; 2 and 5: a short greedy chat completion. */
    static ServeFixture.Reply request(ServeFixture serve, int kind) throws Exception {
        if (kind % 3 == 2) {
            return serve.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \""
                    + question(kind) + "\"}], \"max_tokens\": 4}");
        }
        return serve.post("/v1/answer", ServeFixture.answerBody(question(kind), false, false, 8, OPTIONS));
    }

    static boolean same(JsonNode alone, JsonNode now, int kind) {
        if (kind % 3 == 2) {
            return alone.get("choices").get(0).get("message").equals(now.get("choices").get(0).get("message"));
        }
        if (!alone.get("letter").equals(now.get("letter"))) {
            return false;
        }
        // A batch pads shorter prompts on the right; causal attention leaves their logits as they were,
        // up to float rounding in the larger matrix products.
        for (String l : new String[] {"A", "B", "C", "D"}) {
            if (Math.abs(alone.get("log_likelihoods").get(l).asDouble() - now.get("log_likelihoods").get(l).asDouble()) > 1e-4) {
                return false;
            }
        }
        return true;
    }

    /** Holds the worker inside its first scoring call until released. */
    static final class Gate implements Backend {
        final Backend real;
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        Gate(Backend real) {
            this.real = real;
        }

        @Override
        public double[][] score(List<McqSample> batch) {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return real.score(batch);
        }

        @Override
        public Generated generate(int[] prompt, int maxNewTokens, Sampling sampling, TokenListener onToken) {
            return real.generate(prompt, maxNewTokens, sampling, onToken);
        }

        @Override
        public int[] encode(String text) {
            return real.encode(text);
        }

        @Override
        public String decode(int[] ids) {
            return real.decode(ids);
        }

        @Override
        public int contextLength() {
            return real.contextLength();
        }

        @Override
        public int scoringTokens(McqSample s) {
            return real.scoringTokens(s);
        }
    }

    static void waitFor(ServeFixture serve, String what, java.util.function.Predicate<JsonNode> ok) throws Exception {
        long end = System.nanoTime() + 60_000_000_000L; // a liveness bound, not a timing assertion
        JsonNode h = serve.health();
        while (!ok.test(h)) {
            if (System.nanoTime() > end) {
                throw new AssertionError("never reached: " + what + "; health " + h);
            }
            Thread.sleep(20);
            h = serve.health();
        }
    }

    @Test
    void aFullQueueAnswers503WithRetryAfterAndQueuedScoresShareOnePass() throws Exception {
        Gate[] gate = new Gate[1];
        try (ServeFixture serve = new ServeFixture(run, null, ServeFixture.Settings.defaults().capacity(3),
                real -> gate[0] = new Gate(real))) {
            ExecutorService pool = Executors.newFixedThreadPool(3);
            List<Future<ServeFixture.Reply>> admitted = new ArrayList<>();
            admitted.add(pool.submit(() -> request(serve, 0)));
            assertTrue(gate[0].entered.await(60, TimeUnit.SECONDS));
            admitted.add(pool.submit(() -> request(serve, 1)));
            admitted.add(pool.submit(() -> request(serve, 3)));
            waitFor(serve, "3 in flight, 2 queued", h -> h.get("queue").get("in_flight").asInt() == 3
                    && h.get("queue").get("queued").asInt() == 2);

            ServeFixture.Reply refused = request(serve, 4);
            assertEquals(503, refused.status(), refused.body());
            assertEquals("1", refused.response().headers().firstValue("Retry-After").orElse(null));
            assertEquals("server_busy", refused.json().get("error").get("type").asText());
            ServeFixture.Reply refusedChat = request(serve, 2);
            assertEquals(503, refusedChat.status());

            gate[0].release.countDown();
            for (Future<ServeFixture.Reply> f : admitted) {
                assertEquals(200, f.get(60, TimeUnit.SECONDS).status());
            }
            pool.shutdownNow();
            JsonNode h = serve.health();
            assertEquals(3, h.get("scored").asInt());
            assertEquals(2, h.get("batches").asInt(), "the two queued questions should share one forward pass: " + h);
            assertEquals(2, h.get("rejected").asInt());
            assertEquals(200, request(serve, 4).status());
        }
    }

    /** A streamed request over a raw socket, closed after its first event. */
    static void openAndAbandon(ServeFixture serve, String path, String body, String marker) throws Exception {
        try (Socket s = new Socket("127.0.0.1", serve.server.port())) {
            OutputStream out = s.getOutputStream();
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null && !line.contains(marker)) {
                // headers, keep-alives
            }
            assertTrue(line != null, "the stream ended before " + marker);
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamFreesItsSlot() throws Exception {
        try (ServeFixture serve = new ServeFixture(run, null, ServeFixture.Settings.defaults().capacity(1).maxTokens(3000), null)) {
            openAndAbandon(serve, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                    + "\"max_tokens\": 3000, \"stream\": true}", "\"content\":\"");
            waitFor(serve, "the abandoned generation cancelled", h -> h.get("cancelled").asInt() == 1
                    && h.get("queue").get("in_flight").asInt() == 0);
            assertEquals(0, serve.health().get("completions").asInt());
            assertEquals(200, request(serve, 0).status());

            openAndAbandon(serve, "/v1/answer", ServeFixture.answerBody(question(1), true, true, 3000, OPTIONS),
                    "event: delta");
            waitFor(serve, "the abandoned explanation cancelled", h -> h.get("cancelled").asInt() == 2
                    && h.get("queue").get("in_flight").asInt() == 0);
            assertEquals(200, request(serve, 2).status());
        }
    }
}
