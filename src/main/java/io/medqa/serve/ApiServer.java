package io.medqa.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.http.Context;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.model.Sampling;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The HTTP side: the page at /, POST /v1/answer, OpenAI's POST /v1/chat/completions and GET /v1/models,
 * GET /health. Request threads parse, check and tokenize; the model work goes through {@link ModelWorker}.
 * Request bodies are never logged: the access log line has method, path, status and time only.
 */
public final class ApiServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WEB = "/io/medqa/serve/web/";
    private static final Map<String, String> PAGES = Map.of(
            "/", "index.html", "/app.js", "app.js", "/app.css", "app.css", "/examples.json", "examples.json");

    /**
     * @param apiKey null: no key; else every /v1 request needs {@code Authorization: Bearer KEY}
     * @param maxTokens most tokens one generation may ask for, and the default
     * @param idleTimeout how long a connection may be silent (a non-streamed generation is silent throughout)
     */
    public record Options(String host, int port, String apiKey, int maxBodyBytes, int maxTokens, String modelId,
                          ObjectNode provenance, Duration idleTimeout) {}

    private final ModelWorker worker;
    private final Backend backend;
    private final Options options;
    private final long created = System.currentTimeMillis() / 1000;
    private final Javalin app;

    private ApiServer(ModelWorker worker, Options options) {
        this.worker = worker;
        this.backend = worker.backend();
        this.options = options;
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            // Compression would hold back streamed events until a buffer fills.
            config.http.compressionStrategy = CompressionStrategy.NONE;
            config.requestLogger.http((ctx, ms) -> LOG.info("{} {} {} {} ms", ctx.method(), ctx.path(), ctx.statusCode(),
                    Math.round(ms)));
            config.routes.before("/v1/*", this::authorize);
            config.routes.get("/health", this::health);
            config.routes.get("/v1/models", this::models);
            config.routes.post("/v1/answer", this::answer);
            config.routes.post("/v1/chat/completions", this::chat);
            for (Map.Entry<String, String> page : PAGES.entrySet()) {
                byte[] bytes = resource(page.getValue());
                String type = contentType(page.getValue());
                config.routes.get(page.getKey(), ctx -> page(ctx, bytes, type));
            }
            config.routes.exception(ApiException.class, (e, ctx) -> error(ctx, e));
            config.routes.exception(Exception.class, (e, ctx) -> {
                LOG.error("{} {} failed: {}", ctx.method(), ctx.path(), e.toString(), e);
                error(ctx, new ApiException(500, null, "internal error: " + e.getClass().getSimpleName()));
            });
        });
    }

    /** Binds and starts serving; {@code options.port()} 0 picks a free port (see {@link #port()}). */
    public static ApiServer start(ModelWorker worker, Options options) {
        ApiServer s = new ApiServer(worker, options);
        s.app.start(options.host(), options.port());
        for (Connector c : s.app.jettyServer().server().getConnectors()) {
            if (c instanceof ServerConnector sc) {
                sc.setIdleTimeout(options.idleTimeout().toMillis());
            }
        }
        return s;
    }

    public int port() {
        return app.port();
    }

    @Override
    public void close() {
        app.stop();
    }

    private void authorize(Context ctx) {
        if (options.apiKey() == null) {
            return;
        }
        String given = ctx.header("Authorization");
        byte[] expected = ("Bearer " + options.apiKey()).getBytes(StandardCharsets.UTF_8);
        if (given == null || !MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
            ctx.header("WWW-Authenticate", "Bearer");
            throw new ApiException(401, null, given == null ? "missing API key: send Authorization: Bearer KEY"
                    : "invalid API key");
        }
    }

    private void health(Context ctx) {
        ModelWorker.Stats s = worker.stats();
        ObjectNode n = JSON.createObjectNode().put("status", "ok").put("model", options.modelId());
        n.putObject("queue").put("capacity", s.capacity()).put("in_flight", s.inFlight()).put("queued", s.queued());
        n.put("scored", s.scored()).put("batches", s.batches()).put("largest_batch", s.largestBatch())
                .put("completions", s.completions()).put("cancelled", s.cancelled()).put("timed_out", s.timedOut())
                .put("rejected", s.rejected());
        json(ctx, 200, n);
    }

    private void models(Context ctx) {
        ObjectNode list = JSON.createObjectNode().put("object", "list");
        list.putArray("data").addObject().put("id", options.modelId()).put("object", "model").put("created", created)
                .put("owned_by", "medqa").put("max_model_len", backend.contextLength())
                .set("medqa", options.provenance());
        json(ctx, 200, list);
    }

    private JsonNode body(Context ctx) throws IOException {
        try (InputStream in = ctx.req().getInputStream()) {
            return Requests.readJson(in, ctx.req().getContentLengthLong(), options.maxBodyBytes());
        }
    }

    private ModelWorker.Permit admit(Context ctx) {
        ModelWorker.Permit p = worker.admit();
        if (p == null) {
            ctx.header("Retry-After", "1");
            throw new ApiException(503, null, "the server is busy: " + worker.stats().capacity()
                    + " requests are in flight; retry shortly");
        }
        return p;
    }

    /** The tokens to generate: as asked (within the limit), else the limit, and always within the context. */
    private int budget(Integer asked, int promptTokens, String promptField, String tokensField) {
        if (asked != null && asked > options.maxTokens()) {
            throw ApiException.badField(tokensField, "at most " + options.maxTokens() + " on this server, got " + asked);
        }
        int room = backend.contextLength() - promptTokens;
        int want = asked != null ? asked : Math.min(options.maxTokens(), room);
        if (want > room || room < 1) {
            throw ApiException.badField(asked != null && room >= 1 ? tokensField : promptField, "the model's context is "
                    + backend.contextLength() + " tokens; the prompt has " + promptTokens + " and " + want
                    + " more were asked for");
        }
        return want;
    }

    // ---- POST /v1/answer ----------------------------------------------------------------------------

    private void answer(Context ctx) throws Exception {
        Requests.Answer a = Requests.answer(body(ctx));
        McqSample s = a.sample();
        int scoring = backend.scoringTokens(s);
        if (scoring >= backend.contextLength()) {
            throw ApiException.badField("question", "the prompt has " + scoring + " tokens; the model's context is "
                    + backend.contextLength());
        }
        try (ModelWorker.Permit permit = admit(ctx)) {
            AtomicBoolean cancelled = new AtomicBoolean();
            if (a.stream()) {
                answerStream(ctx, a, cancelled);
                return;
            }
            double[] ll = await(worker.score(s, cancelled));
            int letter = argmax(ll);
            ObjectNode n = scores(ll, letter);
            if (a.explain()) {
                int[] prompt = backend.encode(explanationPrompt(s, letter));
                ModelWorker.Completion c = await(worker.generate(prompt, budget(a.maxTokens(), prompt.length, "question",
                        "max_tokens"), Sampling.GREEDY, null, cancelled));
                finish(n, c);
            }
            json(ctx, 200, n);
        }
    }

    private void answerStream(Context ctx, Requests.Answer a, AtomicBoolean cancelled) throws IOException {
        EventStream es = new EventStream(ctx.res(), cancelled);
        CompletableFuture<double[]> sf = worker.score(a.sample(), cancelled);
        if (!es.pump(sf) || !streamed(es, sf)) {
            return;
        }
        double[] ll = sf.join();
        int letter = argmax(ll);
        ObjectNode n = scores(ll, letter);
        es.write(EventStream.frame("scores", n.toString()));
        if (a.explain()) {
            CompletableFuture<ModelWorker.Completion> gf;
            try {
                int[] prompt = backend.encode(explanationPrompt(a.sample(), letter));
                int max = budget(a.maxTokens(), prompt.length, "question", "max_tokens");
                boolean[] started = {false};
                gf = worker.generate(prompt, max, Sampling.GREEDY, delta -> {
                    // The explanation follows "Explanation:" after a space; the stream starts at its first word.
                    String d = started[0] ? delta : delta.stripLeading();
                    if (!d.isEmpty()) {
                        started[0] = true;
                        es.send(EventStream.frame("delta", JSON.createObjectNode().put("text", d).toString()));
                    }
                }, cancelled);
            } catch (ApiException e) {
                es.write(EventStream.frame("error", errorBody(e).toString()));
                return;
            }
            if (!es.pump(gf) || !streamed(es, gf)) {
                return;
            }
            finish(n, gf.join());
        }
        es.write(EventStream.frame("done", n.toString()));
    }

    private static String explanationPrompt(McqSample s, int letter) {
        return PromptFormat.prompt(s) + PromptFormat.ANSWER_PREFIX + McqSample.LETTERS.charAt(letter) + "\nExplanation:";
    }

    private ObjectNode scores(double[] ll, int letter) {
        ObjectNode n = JSON.createObjectNode().put("model", options.modelId())
                .put("letter", String.valueOf(McqSample.LETTERS.charAt(letter)));
        double[] p = softmax(ll);
        ObjectNode probs = n.putObject("probabilities");
        ObjectNode logs = n.putObject("log_likelihoods");
        for (int i = 0; i < ll.length; i++) {
            String l = String.valueOf(McqSample.LETTERS.charAt(i));
            probs.put(l, p[i]);
            logs.put(l, ll[i]);
        }
        return n;
    }

    private static void finish(ObjectNode n, ModelWorker.Completion c) {
        n.put("explanation", c.text().strip()).put("finish_reason", c.finishReason());
        n.putObject("usage").put("prompt_tokens", c.promptTokens()).put("completion_tokens", c.completionTokens())
                .put("total_tokens", c.promptTokens() + c.completionTokens());
    }

    // ---- POST /v1/chat/completions (OpenAI's shapes) --------------------------------------------------

    private void chat(Context ctx) throws Exception {
        Requests.Chat c = Requests.chat(body(ctx));
        if (c.model() != null && !c.model().equals(options.modelId())) {
            throw new ApiException(404, "model", "model: `" + c.model() + "` does not exist; this server has `"
                    + options.modelId() + "` (GET /v1/models)");
        }
        int[] prompt = backend.encode(c.prompt());
        int max = budget(c.maxTokens(), prompt.length, "messages", "max_tokens");
        String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        long now = System.currentTimeMillis() / 1000;
        try (ModelWorker.Permit permit = admit(ctx)) {
            AtomicBoolean cancelled = new AtomicBoolean();
            if (!c.stream()) {
                ModelWorker.Completion done = await(worker.generate(prompt, max, c.sampling(), null, cancelled));
                ObjectNode n = chunkHead(id, "chat.completion", now);
                ObjectNode choice = n.putArray("choices").addObject().put("index", 0);
                choice.putObject("message").put("role", "assistant").put("content", done.text());
                choice.putNull("logprobs");
                choice.put("finish_reason", openAiFinish(done));
                usage(n.putObject("usage"), done);
                json(ctx, 200, n);
                return;
            }
            EventStream es = new EventStream(ctx.res(), cancelled);
            ObjectNode first = chunk(id, now, c.includeUsage());
            ((ObjectNode) first.get("choices").get(0).get("delta")).put("role", "assistant").put("content", "");
            es.write(EventStream.frame(null, first.toString()));
            CompletableFuture<ModelWorker.Completion> gf = worker.generate(prompt, max, c.sampling(), delta -> {
                ObjectNode n = chunk(id, now, c.includeUsage());
                ((ObjectNode) n.get("choices").get(0).get("delta")).put("content", delta);
                es.send(EventStream.frame(null, n.toString()));
            }, cancelled);
            if (!es.pump(gf) || !streamed(es, gf)) {
                return;
            }
            ModelWorker.Completion done = gf.join();
            ObjectNode last = chunk(id, now, c.includeUsage());
            ((ObjectNode) last.get("choices").get(0)).put("finish_reason", openAiFinish(done));
            es.write(EventStream.frame(null, last.toString()));
            if (c.includeUsage()) {
                ObjectNode u = chunkHead(id, "chat.completion.chunk", now);
                u.putArray("choices");
                usage(u.putObject("usage"), done);
                es.write(EventStream.frame(null, u.toString()));
            }
            es.write("data: [DONE]\n\n");
        }
    }

    private ObjectNode chunkHead(String id, String object, long created) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", created)
                .put("model", options.modelId()).putNull("system_fingerprint");
    }

    private ObjectNode chunk(String id, long created, boolean includeUsage) {
        ObjectNode n = chunkHead(id, "chat.completion.chunk", created);
        ObjectNode choice = n.putArray("choices").addObject().put("index", 0);
        choice.putObject("delta");
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        if (includeUsage) {
            n.putNull("usage");
        }
        return n;
    }

    /** OpenAI knows stop and length; a generation cut by the server's timeout is cut for length. */
    private static String openAiFinish(ModelWorker.Completion c) {
        return "stop".equals(c.finishReason()) ? "stop" : "length";
    }

    private static void usage(ObjectNode u, ModelWorker.Completion c) {
        u.put("prompt_tokens", c.promptTokens()).put("completion_tokens", c.completionTokens())
                .put("total_tokens", c.promptTokens() + c.completionTokens());
    }

    // ---- plumbing -----------------------------------------------------------------------------------

    /** After a pump: true when the job succeeded; otherwise an error event has gone out (if the client is there). */
    private static boolean streamed(EventStream es, CompletableFuture<?> f) {
        try {
            f.join();
            return true;
        } catch (CompletionException | CancellationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            if (!(cause instanceof CancellationException)) {
                LOG.error("streamed request failed: {}", cause.toString(), cause);
            }
            es.write(EventStream.frame("error", errorBody(new ApiException(cause instanceof CancellationException ? 503 : 500,
                    null, cause instanceof CancellationException ? "cancelled: " + cause.getMessage()
                    : "internal error: " + cause.getClass().getSimpleName())).toString()));
            return false;
        }
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CancellationException c) {
                throw new ApiException(503, null, "cancelled: " + c.getMessage());
            }
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The options' letter likelihoods renormalised over the options offered. */
    static double[] softmax(double[] ll) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : ll) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] p = new double[ll.length];
        for (int i = 0; i < ll.length; i++) {
            p[i] = Math.exp(ll[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static ObjectNode errorBody(ApiException e) {
        ObjectNode n = JSON.createObjectNode();
        ObjectNode err = n.putObject("error").put("message", e.getMessage()).put("type", e.type());
        err.put("param", e.param);
        err.put("code", e.status == 401 ? "invalid_api_key" : null);
        return n;
    }

    private static void error(Context ctx, ApiException e) {
        json(ctx, e.status, errorBody(e));
    }

    private static void json(Context ctx, int status, JsonNode body) {
        ctx.status(status).contentType("application/json").result(body.toString());
    }

    private static void page(Context ctx, byte[] bytes, String type) {
        ctx.header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
        ctx.header("X-Content-Type-Options", "nosniff");
        ctx.header("Referrer-Policy", "no-referrer");
        ctx.contentType(type).result(bytes);
    }

    private static byte[] resource(String name) {
        try (InputStream in = ApiServer.class.getResourceAsStream(WEB + name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + WEB + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read resource " + WEB + name, e);
        }
    }

    private static String contentType(String name) {
        return name.endsWith(".html") ? "text/html; charset=utf-8" : name.endsWith(".js") ? "text/javascript; charset=utf-8"
                : name.endsWith(".css") ? "text/css; charset=utf-8" : "application/json";
    }
}
