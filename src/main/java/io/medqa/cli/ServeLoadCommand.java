package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.serve.LoadGenerator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** {@code medqa serve-load}: concurrent clients against a running {@code medqa serve}. */
@Command(name = "serve-load",
        description = "Load a running medqa serve: N clients send requests back to back for a fixed time (the page's "
                + "bundled example questions), then print requests/s, p50/p99 latency and errors. Exits 1 when any "
                + "request failed.",
        mixinStandardHelpOptions = true,
        usageHelpWidth = 110,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa serve-load --clients 16 --seconds 20                       # scoring only, against :8080",
            "  medqa serve-load --kind answer --max-tokens 32 --clients 4",
            "  medqa serve-load --kind chat --url http://127.0.0.1:9000 --api-key s3cret"
        })
final class ServeLoadCommand extends BaseCommand {

    @Option(names = "--url", defaultValue = "http://127.0.0.1:8080", description = "The server (default: ${DEFAULT-VALUE}).")
    String url;

    @Option(names = "--clients", defaultValue = "8", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    int clients;

    @Option(names = "--seconds", defaultValue = "10", description = "How long to send (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--kind", defaultValue = "score", paramLabel = "score|answer|chat", description = "score: "
            + "/v1/answer without explanation; answer: with it; chat: /v1/chat/completions (default: ${DEFAULT-VALUE}).")
    String kind;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens per generation for answer and chat "
            + "(default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Bearer token (default: MEDQA_API_KEY).")
    String apiKey;

    @Override
    int run() throws Exception {
        if (clients < 1 || seconds < 1 || maxTokens < 1) {
            throw new MedqaException(ExitCodes.USAGE, "--clients, --seconds and --max-tokens must be positive");
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode examples;
        try (InputStream in = getClass().getResourceAsStream("/io/medqa/serve/web/examples.json")) {
            examples = json.readTree(in);
        }
        List<String> bodies = new ArrayList<>();
        String path;
        for (JsonNode e : examples) {
            ObjectNode b = json.createObjectNode();
            switch (kind) {
                case "score", "answer" -> {
                    b.put("question", e.get("question").asText()).set("options", e.get("options"));
                    b.put("explain", kind.equals("answer")).put("max_tokens", maxTokens);
                }
                case "chat" -> {
                    b.putArray("messages").addObject().put("role", "user").put("content", e.get("question").asText());
                    b.put("max_tokens", maxTokens);
                }
                default -> throw new MedqaException(ExitCodes.USAGE, "--kind must be score, answer or chat, got " + kind);
            }
            bodies.add(b.toString());
        }
        path = kind.equals("chat") ? "/v1/chat/completions" : "/v1/answer";
        URI target;
        try {
            target = URI.create(url.replaceAll("/+$", "") + path);
        } catch (IllegalArgumentException e) {
            throw new MedqaException(ExitCodes.USAGE, "--url " + url + ": " + e.getMessage());
        }
        String key = apiKey != null ? apiKey : System.getenv("MEDQA_API_KEY");
        err().println("medqa: " + clients + " clients, " + seconds + " s, POST " + target + " (" + kind + ")");
        LoadGenerator.Report r = LoadGenerator.run(target, bodies, key, clients, Duration.ofSeconds(seconds),
                Duration.ofSeconds(120));
        out().println(r.summary());
        out().flush();
        return r.errors() == 0 && r.requests() > 0 ? ExitCodes.OK : ExitCodes.SOFTWARE;
    }
}
