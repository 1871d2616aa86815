package io.medqa;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** medqa's version, filtered into medqa-version.properties by the build. */
public final class Version {

    private Version() {}

    public static String get() {
        Properties p = new Properties();
        try (InputStream in = Version.class.getResourceAsStream("/medqa-version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException ignored) {
            // fall through to "unknown"
        }
        return p.getProperty("version", "unknown");
    }
}
