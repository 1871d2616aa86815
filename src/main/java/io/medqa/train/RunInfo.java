package io.medqa.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/** Provenance helpers for run.json: sha256 of files and strings. */
public final class RunInfo {

    private RunInfo() {}

    public static String sha256(String text) {
        return HexFormat.of().formatHex(digest().digest(text.getBytes(StandardCharsets.UTF_8)));
    }

    public static String sha256(Path file) {
        MessageDigest md = digest();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                md.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** {path: sha256} for each file. */
    public static void hashes(ObjectNode into, List<Path> files) {
        for (Path f : files) {
            into.put(f.toString(), sha256(f));
        }
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
