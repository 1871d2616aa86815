package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.serve.ApiServer;
import io.medqa.serve.ModelBackend;
import io.medqa.serve.ModelWorker;
import io.medqa.serve.Provenance;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/** {@code medqa serve}: the model behind a web page and an HTTP API. */
@Command(name = "serve",
        description = "Serve a model (and LoRA adapter) over HTTP: a web page at /, POST /v1/answer (letter, option "
                + "probabilities, explanation), OpenAI-compatible POST /v1/chat/completions and GET /v1/models, and "
                + "GET /health. The model loads once; one worker thread runs it, requests wait in a bounded queue "
                + "(503 when full). Stop with Ctrl-C.",
        mixinStandardHelpOptions = true,
        usageHelpWidth = 110,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa serve --model demo/model --adapter demo/run        # then open http://127.0.0.1:8080/",
            "  medqa serve --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa --port 9000 --api-key s3cret",
            "  MEDQA_API_KEY=s3cret medqa serve --model ./Qwen3-1.7B --host 0.0.0.0   # reachable from other machines",
            "  curl -s http://127.0.0.1:8080/v1/answer -H 'Content-Type: application/json' \\",
            "      -d '{\"question\": \"Which vitamin deficiency causes scurvy?\", \"options\": [\"A\", \"C\", \"D\", \"K\"]}'"
        })
final class ServeCommand extends BaseCommand {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model folder.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "LoRA adapter folder, applied on the fly; its "
            + "run.json, when present, is shown as provenance.")
    Path adapter;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE}, "
            + "this machine only). Anything else exposes the model to the network: set --api-key.")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "Port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Require 'Authorization: Bearer KEY' on /v1/* "
            + "(default: the MEDQA_API_KEY environment variable; none when unset).")
    String apiKey;

    @Option(names = "--queue", paramLabel = "N", defaultValue = "32", description = "Requests in flight at once, "
            + "waiting or running; more get 503 with Retry-After (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "8", description = "Most questions scored in one "
            + "forward pass when several wait (default: ${DEFAULT-VALUE}; 1 turns batching off).")
    int maxBatch;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "Most tokens one generation "
            + "may produce, and the default when a request names none (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "60", description = "Longest one generation "
            + "may run; it then ends as if at the token limit (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Option(names = "--max-body", paramLabel = "BYTES", defaultValue = "65536", description = "Largest request body; "
            + "bigger ones get 413 (default: ${DEFAULT-VALUE}).")
    int maxBody;

    @Option(names = "--served-model-name", paramLabel = "NAME", description = "The id in /v1/models and the name "
            + "OpenAI clients pass as model (default: the adapter's folder name, else the model's).")
    String servedName;

    @Mixin
    ComputeOptions compute;

    @Override
    int run() throws Exception {
        if (queue < 1 || maxBatch < 1 || maxTokens < 1 || timeoutSeconds < 1 || maxBody < 1 || port < 0 || port > 65535) {
            throw new MedqaException(ExitCodes.USAGE, "--queue, --max-batch, --max-tokens, --timeout and --max-body must "
                    + "be positive and --port 0 to 65535");
        }
        for (Path dir : adapter == null ? new Path[] {model} : new Path[] {model, adapter}) {
            if (!Files.isDirectory(dir)) {
                throw new MedqaException(ExitCodes.NO_INPUT, dir + ": folder not found");
            }
        }
        String key = apiKey != null ? apiKey : System.getenv("MEDQA_API_KEY");
        if (key != null && key.isBlank()) {
            key = null;
        }
        if (key == null && !isLoopback(host)) {
            err().println("medqa: warning: serving on " + host + " without --api-key: anyone who can reach it can use it");
        }
        String name = servedName != null ? servedName
                : (adapter != null ? adapter : model).toAbsolutePath().normalize().getFileName().toString();
        Device device = compute.resolveDevice();
        DataType dtype = compute.resolveDtype(device);
        CountDownLatch stop = new CountDownLatch(1);
        try (ModelBackend backend = ModelBackend.open(model, adapter, device, dtype, compute.resolveAttention());
             ModelWorker worker = new ModelWorker(backend, queue, maxBatch, Duration.ofSeconds(timeoutSeconds));
             ApiServer server = ApiServer.start(worker, new ApiServer.Options(host, port, key, maxBody, maxTokens, name,
                     Provenance.of(model, adapter), Duration.ofSeconds(timeoutSeconds + 30L)))) {
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown, "medqa-serve-stop"));
            out().println("medqa: serving " + name + " on http://" + (host.contains(":") ? "[" + host + "]" : host) + ":"
                    + server.port() + "/" + (key != null ? " (API key required on /v1)" : "") + "; Ctrl-C stops");
            out().flush();
            stop.await();
        }
        return ExitCodes.OK;
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            throw new MedqaException(ExitCodes.USAGE, "--host " + host + ": unknown host");
        }
    }
}
