package io.medqa.serve;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP API against a real server on a free loopback port, over the tiny model with a trained adapter. */
class ApiServerTest {

    @TempDir
    static Path tmp;

    static ServeFixture serve;

    static final String Q = "A patient has silver tears. Which organ is involved?";
    static final String[] OPTIONS = {"heart", "liver", "lung", "skin"};

    @BeforeAll
    static void start() throws Exception {
        TinyRun run = new TinyRun(tmp, 32);
        serve = new ServeFixture(run, ServeFixture.trainAdapter(run), ServeFixture.Settings.defaults(), null);
    }

    @AfterAll
    static void stop() throws Exception {
        serve.close();
    }

    /** SSE frames as (event, data) pairs; event "message" when unnamed. */
    static List<String[]> events(String body) {
        List<String[]> out = new ArrayList<>();
        for (String frame : body.split("\n\n")) {
            String event = "message";
            StringBuilder data = new StringBuilder();
            for (String line : frame.split("\n")) {
                if (line.startsWith("event: ")) {
                    event = line.substring(7);
                } else if (line.startsWith("data: ")) {
                    data.append(line.substring(6));
                }
            }
            if (!data.isEmpty()) {
                out.add(new String[] {event, data.toString()});
            }
        }
        return out;
    }

    @Test
    void answerGivesTheLikeliestLetterAndStreamsTheSameExplanation() throws Exception {
        ServeFixture.Reply r = serve.post("/v1/answer", ServeFixture.answerBody(Q, false, true, 24, OPTIONS));
        assertEquals(200, r.status(), r.body());
        JsonNode a = r.json();
        double sum = 0;
        String best = null;
        for (String l : new String[] {"A", "B", "C", "D"}) {
            double p = a.get("probabilities").get(l).asDouble();
            double ll = a.get("log_likelihoods").get(l).asDouble();
            assertTrue(ll < 0, "log-likelihood " + ll);
            sum += p;
            if (best == null || p > a.get("probabilities").get(best).asDouble()) {
                best = l;
            }
        }
        assertEquals(1.0, sum, 1e-9);
        assertEquals(best, a.get("letter").asText());
        assertFalse(a.has("E"));
        int tokens = a.get("usage").get("completion_tokens").asInt();
        assertTrue(tokens >= 1 && tokens <= 24, a.toString());

        ServeFixture.Reply s = serve.post("/v1/answer", ServeFixture.answerBody(Q, true, true, 24, OPTIONS));
        assertEquals(200, s.status());
        assertTrue(s.response().headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<String[]> ev = events(s.body());
        assertEquals("scores", ev.get(0)[0]);
        assertEquals(a.get("probabilities"), ServeFixture.JSON.readTree(ev.get(0)[1]).get("probabilities"));
        StringBuilder streamed = new StringBuilder();
        for (String[] e : ev.subList(1, ev.size() - 1)) {
            assertEquals("delta", e[0]);
            streamed.append(ServeFixture.JSON.readTree(e[1]).get("text").asText());
        }
        JsonNode done = ServeFixture.JSON.readTree(ev.get(ev.size() - 1)[1]);
        assertEquals("done", ev.get(ev.size() - 1)[0]);
        assertEquals(a.get("explanation").asText(), done.get("explanation").asText());
        assertEquals(done.get("explanation").asText(), streamed.toString().strip());

        JsonNode scoreOnly = serve.post("/v1/answer", ServeFixture.answerBody(Q, false, false, 24, OPTIONS)).json();
        assertEquals(a.get("letter"), scoreOnly.get("letter"));
        assertFalse(scoreOnly.has("explanation"));
    }

    @Test
    void chatCompletionsFollowOpenAiShapes() throws Exception {
        String req = "{\"model\": \"tiny\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                + "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"What is the heart?\"}]}], \"max_tokens\": 12";
        ServeFixture.Reply r = serve.post("/v1/chat/completions", req + "}");
        assertEquals(200, r.status(), r.body());
        JsonNode c = r.json();
        assertTrue(c.get("id").asText().startsWith("chatcmpl-"));
        assertEquals("chat.completion", c.get("object").asText());
        assertEquals("tiny", c.get("model").asText());
        JsonNode choice = c.get("choices").get(0);
        assertEquals("assistant", choice.get("message").get("role").asText());
        String content = choice.get("message").get("content").asText();
        String finish = choice.get("finish_reason").asText();
        assertTrue(finish.equals("stop") || finish.equals("length"), finish);
        JsonNode usage = c.get("usage");
        assertEquals(usage.get("prompt_tokens").asInt() + usage.get("completion_tokens").asInt(), usage.get("total_tokens").asInt());

        ServeFixture.Reply s = serve.post("/v1/chat/completions", req + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
        assertEquals(200, s.status(), s.body());
        List<String[]> ev = events(s.body());
        assertEquals("[DONE]", ev.get(ev.size() - 1)[1]);
        JsonNode first = ServeFixture.JSON.readTree(ev.get(0)[1]);
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        StringBuilder streamed = new StringBuilder();
        String streamedFinish = null;
        for (String[] e : ev.subList(0, ev.size() - 2)) {
            JsonNode chunk = ServeFixture.JSON.readTree(e[1]);
            assertEquals(first.get("id"), chunk.get("id"));
            JsonNode ch = chunk.get("choices").get(0);
            streamed.append(ch.get("delta").path("content").asText(""));
            if (!ch.get("finish_reason").isNull()) {
                streamedFinish = ch.get("finish_reason").asText();
            }
        }
        assertEquals(content, streamed.toString()); // greedy: the same text either way
        assertEquals(finish, streamedFinish);
        JsonNode usageChunk = ServeFixture.JSON.readTree(ev.get(ev.size() - 2)[1]);
        assertEquals(0, usageChunk.get("choices").size());
        assertEquals(usage, usageChunk.get("usage"));
    }

    @Test
    void modelsHealthAndPageDescribeTheServedModel() throws Exception {
        JsonNode models = serve.get("/v1/models").json();
        assertEquals("list", models.get("object").asText());
        JsonNode m = models.get("data").get(0);
        assertEquals("tiny", m.get("id").asText());
        assertEquals("model", m.get("object").asText());
        JsonNode run = m.get("medqa").get("adapter").get("run");
        assertEquals("completed", run.get("status").asText());
        String weights = serve.run.model.resolve("model.safetensors").toString();
        assertEquals(io.medqa.train.RunInfo.sha256(serve.run.model.resolve("model.safetensors")),
                run.get("base_model_sha256").get(weights).asText());
        assertTrue(run.get("data_sha256").size() >= 1);

        JsonNode health = serve.health();
        assertEquals("ok", health.get("status").asText());
        assertEquals(8, health.get("queue").get("capacity").asInt());

        ServeFixture.Reply page = serve.get("/");
        assertEquals(200, page.status());
        assertTrue(page.body().contains("not medical advice"), page.body());
        assertTrue(page.response().headers().firstValue("Content-Security-Policy").isPresent());
        ServeFixture.Reply js = serve.get("/app.js");
        assertTrue(js.response().headers().firstValue("Content-Type").orElse("").startsWith("text/javascript"));
        assertTrue(serve.get("/examples.json").json().size() >= 3);
    }

    static void assertError(ServeFixture.Reply r, int status, String param) throws Exception {
        assertEquals(status, r.status(), r.body());
        JsonNode e = r.json().get("error");
        assertNotNull(e, r.body());
        assertFalse(e.get("message").asText().isBlank());
        if (param == null) {
            assertTrue(e.get("param").isNull(), r.body());
        } else {
            assertEquals(param, e.get("param").asText(), r.body());
            assertTrue(e.get("message").asText().startsWith(param), r.body());
        }
    }

    @Test
    void badRequestsGetJsonErrorsNamingTheField() throws Exception {
        ServeFixture.Reply malformed = serve.post("/v1/answer", "{\"question\": \"x\", \"options\": [\"a\",");
        assertError(malformed, 400, null);
        assertTrue(malformed.json().get("error").get("message").asText().contains("line 1"), malformed.body());
        assertError(serve.post("/v1/answer", "[1, 2]"), 400, null);
        assertError(serve.post("/v1/answer", ServeFixture.answerBody(Q, false, false, 8, "only")), 400, "options");
        assertError(serve.post("/v1/answer", ServeFixture.answerBody(Q, false, false, 8, "a", "b", "c", "d", "e", "f")),
                400, "options");
        assertError(serve.post("/v1/answer", "{\"question\": 7, \"options\": [\"a\", \"b\"]}"), 400, "question");
        assertError(serve.post("/v1/answer", "{\"options\": [\"a\", \"b\"]}"), 400, "question");
        assertError(serve.post("/v1/answer", "{\"question\": \"q\", \"options\": [\"a\", 3]}"), 400, "options[1]");
        assertError(serve.post("/v1/answer", "{\"question\": \"q\", \"options\": {\"A\": \"a\", \"C\": \"c\"}}"), 400, "options");
        assertError(serve.post("/v1/answer", ServeFixture.answerBody(Q, false, false, 8, "a", "x".repeat(1001))), 400, "options[1]");
        assertError(serve.post("/v1/answer", "{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"stream\": \"yes\"}"), 400, "stream");
        assertError(serve.post("/v1/answer", ServeFixture.answerBody(Q, false, true, 65, OPTIONS)), 400, "max_tokens");
        assertError(serve.post("/v1/answer", ServeFixture.answerBody("q".repeat(70_000), false, false, 8, OPTIONS)), 413, null);
        assertError(serve.post("/v1/chat/completions", "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", "
                + "\"content\": \"hi\"}]}"), 404, "model");
        assertError(serve.post("/v1/chat/completions", "{\"messages\": []}"), 400, "messages");
        assertError(serve.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}"),
                400, "messages[0].role");
        assertError(serve.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                + "\"temperature\": -1}"), 400, "temperature");
        // Nothing above reached the model.
        assertEquals(0, serve.health().get("rejected").asInt());
    }

    @Test
    void oversizedBodiesAlwaysGetTheir413() throws Exception {
        // The 413 must reach a client that is still sending its body, over and over, with and without a
        // Content-Length, and the server must serve the next request as usual.
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        for (int i = 0; i < 40; i++) {
            int size = 70_000 + i * 50_000; // up to about 2 MB
            String body = ServeFixture.answerBody("q".repeat(size), false, false, 8, OPTIONS);
            java.net.http.HttpRequest.BodyPublisher publisher = i % 2 == 0
                    ? java.net.http.HttpRequest.BodyPublishers.ofString(body)
                    : java.net.http.HttpRequest.BodyPublishers.ofInputStream(
                            () -> new java.io.ByteArrayInputStream(body.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            java.net.http.HttpResponse<String> r = client.send(java.net.http.HttpRequest.newBuilder(
                            serve.base.resolve("/v1/answer")).timeout(java.time.Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(publisher).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(413, r.statusCode(), "request " + i + " (" + size + " bytes): " + r.body());
        }
        assertEquals(200, serve.post("/v1/answer", ServeFixture.answerBody(Q, false, true, 4, OPTIONS)).status());
    }

    @Test
    void questionTextIsNeverLoggedAtInfo() throws Exception {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        Level before = root.getLevel();
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        root.addAppender(logs);
        root.setLevel(Level.INFO);
        String secret = "A patient named Zebulon Quartzfield has violet tongue";
        try {
            assertEquals(200, serve.post("/v1/answer", ServeFixture.answerBody(secret, false, true, 4, OPTIONS)).status());
            assertEquals(200, serve.post("/v1/answer", ServeFixture.answerBody(secret, true, true, 4, OPTIONS)).status());
            assertEquals(200, serve.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \""
                    + secret + "\"}], \"max_tokens\": 4}").status());
            assertEquals(400, serve.post("/v1/answer", "{\"question\": \"" + secret + "\", \"options\": [1]}").status());
        } finally {
            root.detachAppender(logs);
            root.setLevel(before);
        }
        List<String> lines = logs.list.stream().map(e -> e.getFormattedMessage()
                + (e.getThrowableProxy() == null ? "" : e.getThrowableProxy().getMessage())).toList();
        assertTrue(lines.stream().filter(l -> l.startsWith("POST /v1/")).count() >= 4, "access log: " + lines);
        for (String l : lines) {
            assertFalse(l.contains("Zebulon") || l.contains("Quartzfield"), l);
        }
    }

    @Test
    void apiKeyGuardsTheApiAndGenerationStopsAtTheTimeout() throws Exception {
        try (ServeFixture guarded = new ServeFixture(serve.run, null, ServeFixture.Settings.defaults().apiKey("s3cret")
                .maxTokens(2000).timeout(Duration.ofMillis(1)), null)) {
            String chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}], \"max_tokens\": 2000}";
            assertError(guarded.post("/v1/chat/completions", chat), 401, null);
            assertError(guarded.post("/v1/chat/completions", chat, "Authorization", "Bearer wrong"), 401, null);
            assertEquals(401, guarded.get("/v1/models").status());
            assertEquals(200, guarded.get("/health").status());
            assertEquals(200, guarded.get("/").status());
            assertEquals(200, guarded.get("/v1/models", "Authorization", "Bearer s3cret").status());

            ServeFixture.Reply r = guarded.post("/v1/chat/completions", chat, "Authorization", "Bearer s3cret");
            assertEquals(200, r.status(), r.body());
            JsonNode c = r.json();
            assertEquals("length", c.get("choices").get(0).get("finish_reason").asText());
            assertTrue(c.get("usage").get("completion_tokens").asInt() < 2000, c.toString());
            assertEquals(1, guarded.health().get("timed_out").asInt());
        }
    }
}
