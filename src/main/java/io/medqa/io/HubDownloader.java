package io.medqa.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Downloads files of a Hugging Face Hub model or dataset repository, with the Hub's URL layout:
 * {@code GET {endpoint}/api/{models|datasets}/{repo}/revision/{rev}} lists the files,
 * {@code {endpoint}[/datasets]/{repo}/resolve/{rev}/{path}} serves one. HF_ENDPOINT and HF_TOKEN are
 * honoured. Each file is fetched into {@code name.incomplete} (resumed with a Range request when one
 * is left over), checked against the size and ETag the Hub announces (sha256 for LFS files, the git
 * blob sha1 for others), then renamed into place.
 */
public final class HubDownloader {

    /** Byte progress: done and total over all files of the download. */
    public interface Progress {
        void update(long done, long total, String file);
    }

    public record RemoteFile(String path, long size, String etag, boolean lfs) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String endpoint;
    private final String token;
    private final HttpClient http;
    /** For HEAD: the Hub puts X-Linked-Size / X-Linked-Etag on the redirect of an LFS file. */
    private final HttpClient noRedirect;

    public HubDownloader(String endpoint, String token) {
        this.endpoint = endpoint.replaceAll("/+$", "");
        this.token = token == null || token.isBlank() ? null : token;
        this.http = HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(20))
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        this.noRedirect = HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(20))
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    /** HF_ENDPOINT (default https://huggingface.co) and HF_TOKEN from the environment. */
    public static HubDownloader fromEnvironment() {
        return new HubDownloader(Optional.ofNullable(System.getenv("HF_ENDPOINT")).orElse("https://huggingface.co"),
                System.getenv("HF_TOKEN"));
    }

    /** Lists the repository's files at the revision, keeping those that match any glob (all when none). */
    public List<RemoteFile> list(String repo, boolean dataset, String revision, List<String> includes) {
        String url = endpoint + "/api/" + (dataset ? "datasets" : "models") + "/" + repo + "/revision/"
                + encode(revision);
        HttpResponse<String> r = send(request(url).GET().build(), HttpResponse.BodyHandlers.ofString(), url);
        check(r.statusCode(), url, repo, revision);
        JsonNode root;
        try {
            root = JSON.readTree(r.body());
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, url + ": not a Hub API answer: " + e.getMessage());
        }
        List<PathMatcher> matchers = new ArrayList<>();
        for (String g : includes) {
            matchers.add(FileSystems.getDefault().getPathMatcher("glob:" + g));
        }
        List<RemoteFile> files = new ArrayList<>();
        for (JsonNode s : root.path("siblings")) {
            String name = s.path("rfilename").asText();
            checkRemotePath(url, name);
            if (!matchers.isEmpty() && matchers.stream().noneMatch(m -> m.matches(Path.of(name)))) {
                continue;
            }
            files.add(head(repo, dataset, revision, name));
        }
        if (files.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, repo + "@" + revision + ": no file matches "
                    + (includes.isEmpty() ? "(the repository is empty)" : String.join(", ", includes)));
        }
        return files;
    }

    private RemoteFile head(String repo, boolean dataset, String revision, String path) {
        String url = fileUrl(repo, dataset, revision, path);
        HttpResponse<Void> r;
        try {
            r = noRedirect.send(request(url).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.discarding());
        } catch (IOException e) {
            throw unreachable(url, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MedqaException(ExitCodes.INTERRUPTED, "interrupted");
        }
        if (r.statusCode() >= 400) {
            check(r.statusCode(), url, repo, revision);
        }
        Optional<String> linkedEtag = r.headers().firstValue("X-Linked-Etag");
        String etag = strip(linkedEtag.orElse(r.headers().firstValue("ETag").orElse("")));
        String sizeHeader = r.headers().firstValue("X-Linked-Size").isPresent() ? "X-Linked-Size" : "Content-Length";
        long size = r.headers().firstValue(sizeHeader).map(v -> parseSize(url, sizeHeader, v)).orElse(-1L);
        return new RemoteFile(path, size, etag, linkedEtag.isPresent());
    }

    private static long parseSize(String url, String header, String value) {
        try {
            long n = Long.parseLong(value.trim());
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new MedqaException(ExitCodes.UNAVAILABLE, url + ": malformed " + header + " header \"" + value
                + "\" (not a byte count); is HF_ENDPOINT a Hugging Face Hub?");
    }

    /**
     * A file name from the listing must be a relative path of real components: an empty, "." or ".."
     * component (or a leading "/") would name the destination folder itself or a place outside it,
     * which huggingface_hub refuses too.
     */
    static void checkRemotePath(String url, String name) {
        boolean bad = name.isEmpty() || name.indexOf('\0') >= 0 || name.indexOf('\\') >= 0;
        for (String part : name.split("/", -1)) {
            bad |= part.isEmpty() || part.equals(".") || part.equals("..");
        }
        if (bad) {
            throw new MedqaException(ExitCodes.DATA, url + ": the listing names a file \"" + name
                    + "\"; refusing a path with an empty, \".\" or \"..\" component, which would leave the --dir folder");
        }
    }

    /** Where a listed file goes: inside {@code dir} (which may be "." or any relative path), never elsewhere. */
    static Path targetOf(Path dir, String name) {
        Path base = dir.toAbsolutePath().normalize();
        Path target = base.resolve(name).normalize();
        if (!target.startsWith(base) || target.equals(base)) {
            throw new MedqaException(ExitCodes.DATA, name + ": refusing a path outside " + dir);
        }
        return target;
    }

    /** Downloads the files into {@code dir}; files already there with the right size and ETag are kept. */
    public void download(String repo, boolean dataset, String revision, List<RemoteFile> files, Path dir,
                         Progress progress) {
        long total = files.stream().mapToLong(f -> Math.max(0, f.size())).sum();
        long done = 0;
        for (RemoteFile f : files) {
            checkRemotePath(f.path(), f.path());
            Path target = targetOf(dir, f.path());
            Path etagFile = target.resolveSibling("." + target.getFileName() + ".etag");
            try {
                if (Files.isRegularFile(target) && Files.size(target) == f.size() && Files.isRegularFile(etagFile)
                        && Files.readString(etagFile).equals(f.etag())) {
                    done += f.size();
                    progress.update(done, total, f.path());
                    continue;
                }
                Files.createDirectories(target.getParent());
                Path partial = target.resolveSibling(target.getFileName() + ".incomplete");
                long base = done;
                fetch(fileUrl(repo, dataset, revision, f.path()), partial, f, n -> progress.update(base + n, total, f.path()));
                verify(partial, f);
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                Files.writeString(etagFile, f.etag());
                done += f.size();
            } catch (IOException e) {
                throw new MedqaException(ExitCodes.IO, target + ": cannot write: " + e.getMessage(), e);
            }
        }
    }

    private interface Bytes {
        void update(long n);
    }

    /** GET into {@code partial}, resuming from its current length with a Range request. */
    private void fetch(String url, Path partial, RemoteFile f, Bytes progress) throws IOException {
        long have = Files.isRegularFile(partial) ? Files.size(partial) : 0;
        if (f.size() >= 0 && have > f.size()) {
            Files.delete(partial);
            have = 0;
        }
        HttpRequest.Builder req = request(url).GET();
        if (have > 0) {
            req.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> r = send(req.build(), HttpResponse.BodyHandlers.ofInputStream(), url);
        if (r.statusCode() == 416 && have == f.size()) {
            r.body().close();
            return; // the partial file is already whole
        }
        check(r.statusCode(), url, null, null);
        boolean append = have > 0 && r.statusCode() == 206;
        long n = append ? have : 0;
        try (InputStream in = r.body();
             OutputStream out = Files.newOutputStream(partial, StandardOpenOption.CREATE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            while (true) {
                int k;
                try {
                    k = in.read(buf);
                } catch (IOException e) {
                    // The network failed, not the disk: a body shorter than its Content-Length lands here.
                    throw new MedqaException(ExitCodes.UNAVAILABLE, url + ": the connection ended after " + n + " of "
                            + (f.size() >= 0 ? f.size() + " bytes" : "the announced bytes") + " ("
                            + MedqaException.firstLine(e.getMessage()) + "); run the command again to resume", e);
                }
                if (k < 0) {
                    break;
                }
                out.write(buf, 0, k);
                n += k;
                progress.update(n);
            }
        }
    }

    /** Size, then the ETag: sha256 of the content for LFS files, the git blob sha1 otherwise. */
    private static void verify(Path file, RemoteFile f) throws IOException {
        long size = Files.size(file);
        if (f.size() >= 0 && size != f.size()) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, f.path() + ": received " + size + " bytes, the Hub announced "
                    + f.size() + "; run the command again to resume");
        }
        if (f.etag().isEmpty()) {
            return;
        }
        String actual;
        if (f.lfs() || f.etag().length() == 64) {
            actual = digest(file, "SHA-256", null);
        } else {
            actual = digest(file, "SHA-1", ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
        }
        if (!actual.equalsIgnoreCase(f.etag())) {
            Files.delete(file);
            throw new MedqaException(ExitCodes.UNAVAILABLE, f.path() + ": content does not match its ETag " + f.etag()
                    + " (got " + actual + "); the partial download was removed, run the command again");
        }
    }

    private static String digest(Path file, String algorithm, byte[] prefix) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                md.update(prefix);
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 20];
                int k;
                while ((k = in.read(buf)) > 0) {
                    md.update(buf, 0, k);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private String fileUrl(String repo, boolean dataset, String revision, String path) {
        StringBuilder p = new StringBuilder();
        for (String part : path.split("/")) {
            p.append('/').append(encode(part));
        }
        return endpoint + (dataset ? "/datasets/" : "/") + repo + "/resolve/" + encode(revision) + p;
    }

    private HttpRequest.Builder request(String url) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(10))
                .header("User-Agent", "medqa");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return b;
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler, String url) {
        try {
            return http.send(request, handler);
        } catch (IOException e) {
            throw unreachable(url, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MedqaException(ExitCodes.INTERRUPTED, "interrupted");
        }
    }

    private MedqaException unreachable(String url, IOException e) {
        String why = e instanceof ConnectException || e instanceof HttpConnectTimeoutException
                || e.getCause() instanceof java.nio.channels.UnresolvedAddressException
                ? "cannot connect (offline? behind a proxy? set HF_ENDPOINT to a mirror)" : e.toString();
        return new MedqaException(ExitCodes.UNAVAILABLE, url + ": " + why, e);
    }

    private static void check(int status, String url, String repo, String revision) {
        if (status == 200 || status == 206) {
            return;
        }
        String what = switch (status) {
            case 401, 403 -> "access denied (HTTP " + status + "): a gated or private repository needs HF_TOKEN";
            case 404 -> "not found (HTTP 404)" + (repo != null ? ": check the repository " + repo + " and revision "
                    + revision + " (datasets need --dataset)" : "");
            default -> "HTTP " + status;
        };
        throw new MedqaException(status == 404 ? ExitCodes.NO_INPUT : ExitCodes.UNAVAILABLE, url + ": " + what);
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String strip(String etag) {
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        return e.replace("\"", "");
    }
}
