package io.medqa.serve;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.config.ConfigLoader;
import io.medqa.testing.TinyRun;
import io.medqa.train.Trainer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/** A real server on a free loopback port over the tiny test model, optionally with a freshly trained adapter. */
final class ServeFixture implements AutoCloseable {

    static final ObjectMapper JSON = new ObjectMapper();

    final TinyRun run;
    final Path adapter;
    final Backend backend;
    final ModelWorker worker;
    final ApiServer server;
    final URI base;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private final AutoCloseable owned;

    /** What a test may change about the server. */
    record Settings(int capacity, int maxBatch, int maxTokens, Duration timeout, String apiKey, int maxBodyBytes) {
        static Settings defaults() {
            return new Settings(8, 8, 64, Duration.ofSeconds(60), null, 65536);
        }

        Settings capacity(int c) {
            return new Settings(c, maxBatch, maxTokens, timeout, apiKey, maxBodyBytes);
        }

        Settings maxTokens(int m) {
            return new Settings(capacity, maxBatch, m, timeout, apiKey, maxBodyBytes);
        }

        Settings timeout(Duration t) {
            return new Settings(capacity, maxBatch, maxTokens, t, apiKey, maxBodyBytes);
        }

        Settings apiKey(String k) {
            return new Settings(capacity, maxBatch, maxTokens, timeout, k, maxBodyBytes);
        }
    }

    /** Wraps the real backend (tests that must hold the worker at a chosen moment). */
    interface Wrapper {
        Backend wrap(Backend real);
    }

    ServeFixture(TinyRun run, Path adapter, Settings s, Wrapper wrapper) {
        this.run = run;
        this.adapter = adapter;
        ModelBackend real = ModelBackend.open(run.model, adapter, Device.cpu(), DataType.FLOAT32,
                io.medqa.model.Attention.DEFAULT);
        this.owned = real;
        this.backend = wrapper == null ? real : wrapper.wrap(real);
        this.worker = new ModelWorker(backend, s.capacity(), s.maxBatch(), s.timeout());
        this.server = ApiServer.start(worker, new ApiServer.Options("127.0.0.1", 0, s.apiKey(), s.maxBodyBytes(),
                s.maxTokens(), "tiny", Provenance.of(run.model, adapter), Duration.ofSeconds(120)));
        this.base = URI.create("http://127.0.0.1:" + server.port());
    }

    /** A short real training run: an adapter folder with run.json, as medqa train writes it. */
    static Path trainAdapter(TinyRun run) throws Exception {
        return trainAdapter(run, 3, 1e-2);
    }

    static Path trainAdapter(TinyRun run, int steps, double lr) throws Exception {
        ObjectNode tree = run.tree("train.max_steps=" + steps, "data.max_samples=" + steps * 8, "data.validation=null",
                "train.lr=" + lr);
        new Trainer(ConfigLoader.bind(tree, "test"), tree, null, new Trainer.Listener() {
            @Override
            public void started(int firstStep, int totalSteps, String summary) {
            }

            @Override
            public void step(Trainer.StepRecord record) {
            }

            @Override
            public void evaluated(int step, double loss) {
            }

            @Override
            public void finished() {
            }
        }, new AtomicBoolean()).run();
        return run.output;
    }

    record Reply(int status, String body, HttpResponse<String> response) {
        JsonNode json() throws IOException {
            return JSON.readTree(body);
        }
    }

    Reply post(String path, String body, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body(), r);
    }

    Reply get(String path, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60)).GET();
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), r.body(), r);
    }

    JsonNode health() throws IOException, InterruptedException {
        return get("/health").json();
    }

    static String answerBody(String question, boolean stream, boolean explain, int maxTokens, String... options) {
        ObjectNode n = JSON.createObjectNode().put("question", question).put("stream", stream).put("explain", explain)
                .put("max_tokens", maxTokens);
        var a = n.putArray("options");
        for (String o : options) {
            a.add(o);
        }
        return n.toString();
    }

    @Override
    public void close() throws Exception {
        server.close();
        worker.close();
        owned.close();
    }
}
