package io.medqa.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * scripts/bundle as a user runs it after {@code mvn package}: the folder it makes starts medqa with its
 * own Java runtime, carries native code for Linux x86-64 only and no libtorch, and trains on a libtorch
 * that it is pointed at with PYTORCH_LIBRARY_PATH (here DJL's CPU libtorch and JNI taken out of their jars
 * into a folder of their own, the layout a GPU machine's libtorch gets).
 */
class BundleIT {

    private static final Path ROOT = Path.of("").toAbsolutePath();
    private static final Path OUT = ROOT.resolve("target/it-bundle/medqa");
    private static final Pattern NATIVE = Pattern.compile("\\.(so(\\.\\d+)*|dll|dylib|jnilib|a)$");
    private static final Pattern THIS_PLATFORM = Pattern.compile("linux[-/_](x86[-_]64|amd64)", Pattern.CASE_INSENSITIVE);

    private record Result(int code, String output) {}

    private static Result run(Map<String, String> env, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "timed out: " + String.join(" ", command));
        return new Result(p.exitValue(), new String(out));
    }

    @BeforeAll
    static void bundle() throws Exception {
        Result r = run(Map.of(), "bash", "scripts/bundle", "--out", OUT.toString());
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("bundle: " + OUT), r.output());
    }

    @Test
    void holdsItsOwnRuntimeAndOnlyThisPlatformsNativeCode() throws IOException {
        assertTrue(Files.isExecutable(OUT.resolve("bin/medqa")));
        assertTrue(Files.isExecutable(OUT.resolve("runtime/bin/java")));
        assertTrue(Files.exists(OUT.resolve("runtime/include/jni.h")), "JNI headers, for building a JNI library");
        assertTrue(Files.exists(OUT.resolve("configs/demo.yaml")));
        List<String> foreign = new ArrayList<>();
        int natives = 0;
        try (Stream<Path> jars = Files.list(OUT.resolve("lib"))) {
            for (Path jar : jars.toList()) {
                assertFalse(jar.getFileName().toString().startsWith("pytorch-native-cpu"), "no libtorch of its own");
                try (ZipFile zip = new ZipFile(jar.toFile())) {
                    for (ZipEntry e : java.util.Collections.list(zip.entries())) {
                        if (NATIVE.matcher(e.getName()).find()) {
                            natives++;
                            if (!THIS_PLATFORM.matcher(e.getName()).find()) {
                                foreign.add(jar.getFileName() + "!" + e.getName());
                            }
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), foreign);
        assertTrue(natives >= 3, "the tokenizer's, JNA's and DJL's JNI for this platform stay: " + natives);
    }

    @Test
    void trainsOnALibtorchItIsPointedAt(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path lib = tmp.resolve("libtorch");
        Files.createDirectories(lib);
        Path jars = ROOT.resolve("target/lib");
        try (Stream<Path> s = Files.list(jars)) {
            for (Path jar : s.toList()) {
                String name = jar.getFileName().toString();
                if (name.startsWith("pytorch-native-cpu") || name.startsWith("pytorch-jni")) {
                    try (ZipFile zip = new ZipFile(jar.toFile())) {
                        for (ZipEntry e : java.util.Collections.list(zip.entries())) {
                            String n = e.getName();
                            boolean libtorch = n.startsWith("pytorch/cpu/linux-x86_64/") && !e.isDirectory();
                            boolean jni = n.equals("jnilib/linux-x86_64/cpu/libdjl_torch.so");
                            if (libtorch || jni) {
                                try (InputStream in = zip.getInputStream(e)) {
                                    Files.copy(in, lib.resolve(Path.of(n).getFileName().toString()),
                                            StandardCopyOption.REPLACE_EXISTING);
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(Files.exists(lib.resolve("libtorch_cpu.so")) && Files.exists(lib.resolve("libdjl_torch.so")));
        Map<String, String> env = Map.of("PYTORCH_LIBRARY_PATH", lib.toString(), "PYTORCH_FLAVOR", "cpu",
                "PYTORCH_VERSION", "2.7.1", "DJL_CACHE_DIR", tmp.resolve("djl-cache").toString(),
                "OMP_NUM_THREADS", "1");
        Result r = run(env, OUT.resolve("bin/medqa").toString(), "bench", "--shape", "tiny", "--device", "cpu",
                "--seq-len", "32", "--warmup", "1", "--steps", "2", "--threads", "1", "--json");
        assertEquals(0, r.code(), r.output());
        String json = r.output().substring(r.output().indexOf('{'));
        JsonNode report = new ObjectMapper().readTree(json);
        assertTrue(report.path("tokens_per_s").asDouble() > 0, json);
        assertEquals(3, report.path("losses").size(), json); // the warm-up step and the two timed ones
        assertFalse(Files.exists(tmp.resolve("djl-cache")) && hasFiles(tmp.resolve("djl-cache")),
                "nothing extracted or downloaded: the given folder was used");

        // Not pointed at any libtorch, it says so in one line and fails.
        Result none = run(Map.of("DJL_CACHE_DIR", tmp.resolve("empty-cache").toString()),
                OUT.resolve("bin/medqa").toString(), "bench", "--shape", "tiny", "--steps", "1", "--seq-len", "16");
        assertNotEquals(0, none.code(), none.output());
        assertTrue(none.output().contains("PYTORCH_LIBRARY_PATH"), none.output());
    }

    private static boolean hasFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.anyMatch(Files::isRegularFile);
        }
    }
}
