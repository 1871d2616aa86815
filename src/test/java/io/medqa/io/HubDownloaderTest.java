package io.medqa.io;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** medqa's Hub client against a local server with the Hub's URL layout, headers and Range support. */
class HubDownloaderTest {

    @TempDir
    Path tmp;

    HttpServer server;
    String endpoint;
    final Map<String, byte[]> files = new ConcurrentHashMap<>(); // "models/org/tiny/config.json" -> bytes
    final Map<String, Boolean> lfs = new ConcurrentHashMap<>();
    final List<String> requests = new ArrayList<>();
    volatile String lastAuthorization;
    volatile byte[] corruptNext;
    volatile int truncateNextTo = -1;
    volatile String sizeHeader;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
        endpoint = "http://127.0.0.1:" + server.getAddress().getPort();
        byte[] weights = new byte[300_000];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (byte) (i * 31 + 7);
        }
        put("models/org/tiny/config.json", "{\"model_type\": \"qwen3\"}".getBytes(StandardCharsets.UTF_8), false);
        put("models/org/tiny/model.safetensors", weights, true);
        put("models/org/tiny/sub/readme.txt", "hello".getBytes(StandardCharsets.UTF_8), false);
        put("datasets/org/qa/data/train.jsonl", "{\"question\": \"q\"}\n".getBytes(StandardCharsets.UTF_8), true);
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void put(String key, byte[] content, boolean isLfs) {
        files.put(key, content);
        lfs.put(key, isLfs);
    }

    private synchronized void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        requests.add(ex.getRequestMethod() + " " + path + (ex.getRequestHeaders().containsKey("Range")
                ? " " + ex.getRequestHeaders().getFirst("Range") : ""));
        lastAuthorization = ex.getRequestHeaders().getFirst("Authorization");
        if (path.startsWith("/api/")) { // /api/{models|datasets}/{org}/{name}/revision/{rev}
            String[] p = path.split("/");
            String prefix = p[2] + "/" + p[3] + "/" + p[4] + "/";
            StringBuilder siblings = new StringBuilder();
            for (String k : files.keySet()) {
                if (k.startsWith(prefix)) {
                    siblings.append(siblings.length() == 0 ? "" : ",").append("{\"rfilename\":\"")
                            .append(k.substring(prefix.length()).replace("\\", "\\\\")).append("\"}");
                }
            }
            if (siblings.length() == 0 || !p[6].equals("main")) {
                send(ex, 404, new byte[0]);
                return;
            }
            send(ex, 200, ("{\"sha\":\"abc\",\"siblings\":[" + siblings + "]}").getBytes(StandardCharsets.UTF_8));
            return;
        }
        // /{org}/{name}/resolve/{rev}/{file} or /datasets/{org}/{name}/resolve/{rev}/{file}
        boolean dataset = path.startsWith("/datasets/");
        String rest = dataset ? path.substring("/datasets/".length()) : path.substring(1);
        String[] p = rest.split("/", 5);
        String key = (dataset ? "datasets/" : "models/") + p[0] + "/" + p[1] + "/" + p[4];
        byte[] content = files.get(key);
        if (content == null) {
            send(ex, 404, new byte[0]);
            return;
        }
        if (lfs.get(key)) {
            ex.getResponseHeaders().add("X-Linked-Etag", "\"" + hex("SHA-256", null, content) + "\"");
            ex.getResponseHeaders().add("X-Linked-Size", sizeHeader != null ? sizeHeader : String.valueOf(content.length));
        } else {
            ex.getResponseHeaders().add("ETag", "\"" + hex("SHA-1", ("blob " + content.length + "\0")
                    .getBytes(StandardCharsets.US_ASCII), content) + "\"");
        }
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().add("Content-Length", String.valueOf(content.length));
            ex.sendResponseHeaders(200, -1);
            ex.close();
            return;
        }
        byte[] body = content;
        if (corruptNext != null && lfs.get(key)) {
            body = corruptNext;
            corruptNext = null;
        }
        if (truncateNextTo >= 0) { // announce the whole body, send a part, drop the connection
            int keep = truncateNextTo;
            truncateNextTo = -1;
            ex.sendResponseHeaders(200, body.length);
            try {
                ex.getResponseBody().write(body, 0, keep);
                ex.getResponseBody().flush();
            } finally {
                ex.close();
            }
            return;
        }
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null) {
            int from = Integer.parseInt(range.replace("bytes=", "").replace("-", ""));
            byte[] part = java.util.Arrays.copyOfRange(body, from, body.length);
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
            send(ex, 206, part);
            return;
        }
        send(ex, 200, body);
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    static String hex(String algorithm, byte[] prefix, byte[] content) {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                md.update(prefix);
            }
            return HexFormat.of().formatHex(md.digest(content));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private HubDownloader hub(String token) {
        return new HubDownloader(endpoint, token);
    }

    private void download(HubDownloader hub, String repo, boolean dataset, List<String> include, Path dir) {
        hub.download(repo, dataset, "main", hub.list(repo, dataset, "main", include), dir, (d, t, f) -> { });
    }

    @Test
    void downloadsAModelWithTheHubLayoutAndSendsTheToken() throws Exception {
        Path dir = tmp.resolve("tiny");
        download(hub("secret"), "org/tiny", false, List.of(), dir);
        assertArrayEquals(files.get("models/org/tiny/model.safetensors"), Files.readAllBytes(dir.resolve("model.safetensors")));
        assertEquals("hello", Files.readString(dir.resolve("sub/readme.txt")));
        assertEquals("Bearer secret", lastAuthorization);
        assertTrue(requests.contains("GET /org/tiny/resolve/main/model.safetensors"), requests.toString());
        assertFalse(Files.exists(dir.resolve("model.safetensors.incomplete")));

        requests.clear();
        download(hub(null), "org/tiny", false, List.of(), dir); // everything is there: nothing fetched
        assertTrue(requests.stream().noneMatch(r -> r.startsWith("GET /org")), requests.toString());
    }

    @Test
    void includeGlobsAndDatasetsUseTheirUrls() throws Exception {
        Path dir = tmp.resolve("json");
        download(hub(null), "org/tiny", false, List.of("*.json"), dir);
        assertTrue(Files.exists(dir.resolve("config.json")));
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        Path data = tmp.resolve("qa");
        download(hub(null), "org/qa", true, List.of("data/*.jsonl"), data);
        assertTrue(Files.readString(data.resolve("data/train.jsonl")).contains("question"));
        assertTrue(requests.contains("GET /datasets/org/qa/resolve/main/data/train.jsonl"), requests.toString());
    }

    @Test
    void anInterruptedFileIsResumedWithARangeRequest() throws Exception {
        Path dir = tmp.resolve("tiny");
        Files.createDirectories(dir);
        byte[] all = files.get("models/org/tiny/model.safetensors");
        Files.write(dir.resolve("model.safetensors.incomplete"), java.util.Arrays.copyOf(all, 120_000));
        download(hub(null), "org/tiny", false, List.of("model.safetensors"), dir);
        assertTrue(requests.contains("GET /org/tiny/resolve/main/model.safetensors bytes=120000-"), requests.toString());
        assertArrayEquals(all, Files.readAllBytes(dir.resolve("model.safetensors")));
    }

    @Test
    void contentThatDoesNotMatchItsEtagIsRejected() {
        byte[] all = files.get("models/org/tiny/model.safetensors");
        byte[] bad = all.clone();
        bad[1000] ^= 1;
        corruptNext = bad;
        Path dir = tmp.resolve("tiny");
        MedqaException e = assertThrows(MedqaException.class,
                () -> download(hub(null), "org/tiny", false, List.of("model.safetensors"), dir));
        assertTrue(e.getMessage().contains("does not match its ETag"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        download(hub(null), "org/tiny", false, List.of("model.safetensors"), dir); // a rerun succeeds
        assertTrue(Files.exists(dir.resolve("model.safetensors")));
    }

    @Test
    void missingRepositoriesAndNoNetworkGiveClearErrors() throws Exception {
        MedqaException missing = assertThrows(MedqaException.class, () -> hub(null).list("org/nope", false, "main", List.of()));
        assertEquals(ExitCodes.NO_INPUT, missing.exitCode());
        assertTrue(missing.getMessage().contains("not found (HTTP 404)"), missing.getMessage());
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        HubDownloader offline = new HubDownloader("http://127.0.0.1:" + closedPort, null);
        MedqaException e = assertThrows(MedqaException.class, () -> offline.list("org/tiny", false, "main", List.of()));
        assertEquals(ExitCodes.UNAVAILABLE, e.exitCode());
        assertTrue(e.getMessage().contains("cannot connect (offline?"), e.getMessage());
    }

    @Test
    void listingsNamingTheFolderItselfOrAPlaceOutsideItAreRefused() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("target"));
        Files.writeString(dir.resolve("keep.txt"), "mine");
        for (String name : new String[] {"", ".", "..", "../evil.txt", "a/../../evil.txt", "a//b.txt", "a/./b.txt",
                "/etc/evil.txt", "sub/", "a\\..\\b"}) {
            files.clear();
            put("models/org/bad/config.json", "{}".getBytes(StandardCharsets.UTF_8), false);
            put("models/org/bad/" + name, "x".getBytes(StandardCharsets.UTF_8), false);
            MedqaException e = assertThrows(MedqaException.class,
                    () -> download(hub(null), "org/bad", false, List.of(), dir), name);
            assertEquals(ExitCodes.DATA, e.exitCode(), name);
            assertTrue(e.getMessage().contains("the listing names a file \"" + name + "\""),
                    e.getMessage());
            assertTrue(Files.isDirectory(dir), name);
            assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
            assertFalse(Files.exists(tmp.resolve("evil.txt")), name);
            assertFalse(Files.exists(dir.resolve("config.json")), name + ": nothing is fetched from a bad listing");
        }
    }

    @Test
    void theDestinationMayBeTheWorkingFolderOrAnyRelativePath() {
        Path cwd = Path.of("").toAbsolutePath();
        assertEquals(cwd.resolve("config.json"), HubDownloader.targetOf(Path.of("."), "config.json"));
        assertEquals(cwd.resolve("sub/x.json"), HubDownloader.targetOf(Path.of("./a/.."), "sub/x.json"));
        assertEquals(cwd.resolve("m/x.json"), HubDownloader.targetOf(Path.of("m"), "x.json"));
        assertThrows(MedqaException.class, () -> HubDownloader.targetOf(Path.of("."), "../x.json"));
        assertThrows(MedqaException.class, () -> HubDownloader.targetOf(Path.of("m"), "."));
    }

    @Test
    void aBodyShorterThanItsContentLengthIsANetworkErrorWithByteCountsAndResumes() throws Exception {
        Path dir = tmp.resolve("tiny");
        truncateNextTo = 100_000;
        MedqaException e = assertThrows(MedqaException.class,
                () -> download(hub(null), "org/tiny", false, List.of("model.safetensors"), dir));
        assertEquals(ExitCodes.UNAVAILABLE, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().matches(".*model.safetensors: the connection ended after \\d+ of 300000 bytes .*"
                + "run the command again to resume"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("model.safetensors")));
        download(hub(null), "org/tiny", false, List.of("model.safetensors"), dir);
        assertArrayEquals(files.get("models/org/tiny/model.safetensors"), Files.readAllBytes(dir.resolve("model.safetensors")));
    }

    @Test
    void aMalformedSizeHeaderIsAClearError() {
        for (String bad : new String[] {"lots", "-5", "1.5", "99999999999999999999"}) {
            sizeHeader = bad;
            MedqaException e = assertThrows(MedqaException.class,
                    () -> hub(null).list("org/tiny", false, "main", List.of("model.safetensors")));
            assertEquals(ExitCodes.UNAVAILABLE, e.exitCode());
            assertTrue(e.getMessage().endsWith("model.safetensors: malformed X-Linked-Size header \"" + bad
                    + "\" (not a byte count); is HF_ENDPOINT a Hugging Face Hub?"), e.getMessage());
        }
    }
}
