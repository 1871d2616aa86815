package io.medqa.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {

    @TempDir
    Path tmp;

    @Test
    void writtenFilesGetTheUmaskModeLikeAnyNewFile() throws Exception {
        // A file created the ordinary way carries the process umask (0644 under umask 022).
        Path plain = tmp.resolve("plain.txt");
        try (OutputStream out = Files.newOutputStream(plain)) {
            out.write('x');
        }
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(plain);

        Path target = tmp.resolve("run.json");
        AtomicFiles.writeString(target, "{}\n");
        assertEquals("{}\n", Files.readString(target));
        assertEquals(expected, Files.getPosixFilePermissions(target), "the same mode as a plain new file");
        // Under the usual umask 022 (or 002) others may read the outputs, as they may read everything else.
        if (expected.contains(PosixFilePermission.OTHERS_READ)) {
            assertTrue(Files.getPosixFilePermissions(target).contains(PosixFilePermission.GROUP_READ));
        }
        try (var names = Files.list(tmp)) {
            assertFalse(names.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file is left");
        }
    }

    @Test
    void replacingKeepsTheUmaskModeToo() throws Exception {
        Path target = tmp.resolve("metrics.jsonl");
        AtomicFiles.writeString(target, "a\n");
        AtomicFiles.writeString(target, "b\n");
        assertEquals("b\n", Files.readString(target));
        Path plain = Files.writeString(tmp.resolve("plain"), "x");
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(target));
    }
}
