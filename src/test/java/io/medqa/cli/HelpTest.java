package io.medqa.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HelpTest {

    private static final String[] COMMANDS = {"demo", "train", "eval", "ask", "merge", "generate", "download", "completion", "logits"};

    private static CliTest.Run run(String columns, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err), columns);
        return new CliTest.Run(code, out.toString(), err.toString());
    }

    /** The lines after "Examples:", as printed. */
    private static List<String> examples(String help) {
        return help.substring(help.indexOf("Examples:")).lines().skip(1).toList();
    }

    @Test
    void helpFollowsTheTerminalWidthButPrintsExamplesAsWritten() {
        for (String command : COMMANDS) {
            CliTest.Run wide = run("200", command, "--help");
            CliTest.Run narrow = run("60", command, "--help");
            assertEquals(0, wide.code());
            assertTrue(wide.out().lines().anyMatch(l -> l.length() > 110) || wide.out().lines().count()
                    < narrow.out().lines().count(), command + ": the width is used, not a fixed 110");
            assertTrue(wide.out().lines().allMatch(l -> l.length() <= 200), command);
            // examples are never re-wrapped: the same lines at any width
            assertEquals(examples(wide.out()), examples(narrow.out()), command);
            // ... and prose above them is wrapped to the width
            String options = narrow.out().substring(0, narrow.out().indexOf("Examples:"));
            assertTrue(options.lines().allMatch(l -> l.length() <= 60), command + ":\n" + options);
        }
        assertEquals(null, Main.parseColumns("wide"), "an unusable COLUMNS is ignored");
        assertEquals(55, Main.parseColumns("20"), "picocli's narrowest");
        assertEquals(132, Main.parseColumns("132"));
    }

    @Test
    void askAndGenerateHelpDoNotMentionAConfig() {
        for (String command : new String[] {"ask", "generate"}) {
            String help = run("100", command, "--help").out();
            assertFalse(help.toLowerCase(java.util.Locale.ROOT).contains("config's"), command + ":\n" + help);
            assertFalse(help.contains("--config"), command);
        }
        assertTrue(run("100", "eval", "--help").out().contains("--config"));
    }

    @Test
    void picocliAndMedqaUsageErrorsLookAlike() {
        CliTest.Run unknown = run("100", "eval", "--limt", "5");
        CliTest.Run missing = run("100", "ask");
        CliTest.Run own = run("100", "eval", "--split", "test");
        for (CliTest.Run r : List.of(unknown, missing, own)) {
            assertEquals(2, r.code(), r.err());
            List<String> lines = r.err().strip().lines().toList();
            assertEquals(1, lines.size(), r.err());
            assertTrue(lines.get(0).startsWith("medqa: error: "), r.err());
            assertTrue(lines.get(0).matches(".* \\(see 'medqa [a-z]+ --help'\\)$"), r.err());
        }
        assertTrue(unknown.err().contains("--limt") && unknown.err().contains("--limit"), unknown.err());
        assertTrue(missing.err().contains("--model"), missing.err());
        assertTrue(missing.err().contains("(see 'medqa ask --help')"), missing.err());
        CliTest.Run none = run("100");
        assertEquals(2, none.code());
        assertTrue(none.err().startsWith("medqa: error: a command is required"), none.err());
    }
}
