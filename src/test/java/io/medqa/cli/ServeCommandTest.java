package io.medqa.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The serve commands' own checks, before any model loads or request is sent. */
class ServeCommandTest {

    @Test
    void helpHasExamplesAndBadInputIsOneLine() {
        for (String cmd : new String[] {"serve", "serve-load"}) {
            CliTest.Run help = CliTest.run(cmd, "--help");
            assertEquals(0, help.code());
            assertTrue(help.out().contains("Examples:"), help.out());
        }
        CliTest.Run missing = CliTest.run("serve", "--model", "/nonexistent/model", "--port", "0");
        assertEquals(66, missing.code(), missing.err());
        assertTrue(missing.err().startsWith("medqa: error: /nonexistent/model: folder not found"), missing.err());
        CliTest.Run port = CliTest.run("serve", "--model", ".", "--port", "70000");
        assertEquals(2, port.code(), port.err());
        CliTest.Run kind = CliTest.run("serve-load", "--kind", "nonsense", "--seconds", "1");
        assertEquals(2, kind.code(), kind.err());
        assertTrue(kind.err().contains("--kind must be score, answer or chat"), kind.err());
    }

    @Test
    void loadAgainstNoServerCountsEveryRequestAsAnError() {
        // Port 9 (discard) is closed on loopback: every request fails at once and must be counted, not lost.
        CliTest.Run r = CliTest.run("serve-load", "--url", "http://127.0.0.1:9", "--clients", "2", "--seconds", "1");
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.out().matches("(?s)\\d+ requests in .*errors \\d+ \\{-1=\\d+}.*"), r.out());
    }
}
