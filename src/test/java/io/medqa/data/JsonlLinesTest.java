package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonlLinesTest {

    @TempDir
    Path tmp;

    private Path bytes(String name, byte[]... parts) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.write(p);
        }
        Path f = tmp.resolve(name);
        Files.write(f, b.toByteArray());
        return f;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Every line's text, or "BAD: message" where the reader refused one and went on. */
    private static List<String> all(Path f, int limit) {
        List<String> out = new ArrayList<>();
        try (JsonlLines lines = JsonlLines.open(f, limit)) {
            while (true) {
                try {
                    JsonlLines.Line l = lines.next();
                    if (l == null) {
                        return out;
                    }
                    out.add(l.number() + ":" + l.text());
                } catch (JsonlLines.BadLine e) {
                    assertEquals(ExitCodes.DATA, e.exitCode());
                    out.add("BAD: " + e.getMessage());
                }
            }
        }
    }

    @Test
    void linesWithCrLfAndNoFinalNewline() throws Exception {
        Path f = bytes("a.jsonl", utf8("{\"a\":1}\r\n\n{\"b\":\"é\"}"));
        assertEquals(List.of("1:{\"a\":1}", "2:", "3:{\"b\":\"é\"}"), all(f, 100));
    }

    @Test
    void byteOrderMarkAtTheStartIsDropped() throws Exception {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        Path f = bytes("bom.jsonl", bom, utf8("{\"a\":1}\n"), bom, utf8("x\n"));
        List<String> lines = all(f, 100);
        assertEquals("1:{\"a\":1}", lines.get(0));
        // only the file's first three bytes are a byte-order mark; later ones are text (U+FEFF)
        assertEquals("2:\uFEFFx", lines.get(1));
    }

    @Test
    void aLineOverTheLimitIsRefusedWithItsNumberAndTheNextLineStillReads() throws Exception {
        Path f = bytes("long.jsonl", utf8("ok\n" + "x".repeat(1000) + "\nafter\n" + "y".repeat(101)));
        List<String> lines = all(f, 100);
        assertEquals(4, lines.size(), lines.toString());
        assertEquals("1:ok", lines.get(0));
        assertTrue(lines.get(1).startsWith("BAD: " + f + ":2: line is 1000 bytes long, over the limit of 100"),
                lines.get(1));
        assertEquals("3:after", lines.get(2));
        assertTrue(lines.get(3).startsWith("BAD: " + f + ":4: line is 101 bytes"), lines.get(3));
        assertEquals(List.of("1:" + "z".repeat(100)), all(bytes("edge.jsonl", utf8("z".repeat(100))), 100));
    }

    @Test
    void theDefaultLimitIsOneMebibyte() throws Exception {
        Path f = bytes("huge.jsonl", utf8("{\"question\":\"" + "q".repeat(3 << 20) + "\"}\n{}\n"));
        try (JsonlLines lines = JsonlLines.open(f)) {
            MedqaException e = assertThrows(JsonlLines.BadLine.class, lines::next);
            assertTrue(e.getMessage().contains(f + ":1: line is 3145743 bytes long, over the limit of 1048576"),
                    e.getMessage());
            assertEquals("{}", lines.next().text());
            assertNull(lines.next());
        }
    }

    @Test
    void malformedUtf8IsBadDataWithLineAndByte() throws Exception {
        Path f = bytes("latin1.jsonl", utf8("{\"a\":1}\n{\"q\":\"caf"), new byte[] {(byte) 0xE9}, utf8("\"}\n"),
                new byte[] {(byte) 0xC3}, utf8("\n"), new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, utf8("\nend\n"));
        List<String> lines = all(f, 100);
        assertEquals("1:{\"a\":1}", lines.get(0));
        assertEquals("BAD: " + f + ":2: not valid UTF-8 (at byte 10 of the line); re-save the file as UTF-8", lines.get(1));
        assertTrue(lines.get(2).startsWith("BAD: " + f + ":3: not valid UTF-8 (at byte 1"), lines.get(2)); // truncated sequence
        assertTrue(lines.get(3).startsWith("BAD: " + f + ":4: not valid UTF-8"), lines.get(3)); // an encoded surrogate
        assertEquals("5:end", lines.get(4));
    }

    @Test
    void aMissingFileIsMissingInput() {
        MedqaException e = assertThrows(MedqaException.class, () -> JsonlLines.open(tmp.resolve("nope.jsonl")));
        assertEquals(ExitCodes.NO_INPUT, e.exitCode());
        assertTrue(e.getMessage().endsWith("nope.jsonl: file not found"), e.getMessage());
    }

    @Test
    void readerReportsBadLinesAsRowErrorsAndSkipsThemWhenAsked() throws Exception {
        String good = "{\"question\":\"Which?\",\"options\":{\"A\":\"x\",\"B\":\"y\"},\"answer_idx\":\"B\"}";
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        Path f = bytes("mixed.jsonl", bom, utf8(good + "\n{\"question\":\"caf"), new byte[] {(byte) 0xFF},
                utf8("\"}\n{\"question\":\"" + "q".repeat(JsonlLines.MAX_LINE_BYTES) + "\"}\n" + good + "\n"));
        MedqaException e = assertThrows(MedqaException.class,
                () -> McqReader.readAll(McqReader.resolve(f.toString(), "auto", "auto", false)));
        assertEquals(ExitCodes.DATA, e.exitCode());
        assertTrue(e.getMessage().startsWith(f + ":2: not valid UTF-8"), e.getMessage());

        McqReader.Source skip = McqReader.resolve(f.toString(), "auto", "auto", true);
        try (McqReader.Samples s = McqReader.open(skip)) {
            List<McqSample> kept = new ArrayList<>();
            s.forEachRemaining(kept::add);
            assertEquals(2, kept.size());
            assertEquals(f + ":4", kept.get(1).source());
            assertEquals(2, s.skipped());
        }
    }

    @Test
    void optionTextsMustNotAllBeEmpty() throws Exception {
        Path m = tmp.resolve("empty.jsonl");
        Files.writeString(m, "{\"question\":\"Q?\",\"opa\":\"\",\"opb\":\" \",\"opc\":\"\",\"opd\":\"\",\"cop\":0}\n");
        MedqaException e = assertThrows(MedqaException.class,
                () -> McqReader.readAll(McqReader.resolve(m.toString(), "medmcqa", "0", false)));
        assertEquals(m + ":1: 4 of the 4 option texts are empty; at least two must have text", e.getMessage());

        Path q = tmp.resolve("one-empty.jsonl");
        Files.writeString(q, "{\"question\":\"Q?\",\"options\":{\"A\":\"\",\"B\":\"\"},\"answer_idx\":\"B\"}\n"
                + "{\"question\":\"Q?\",\"options\":{\"A\":\"\",\"B\":\"y\",\"C\":\"z\"},\"answer_idx\":\"B\"}\n");
        try (McqReader.Samples s = McqReader.open(McqReader.resolve(q.toString(), "medqa", "auto", true))) {
            List<McqSample> kept = new ArrayList<>();
            s.forEachRemaining(kept::add);
            assertEquals(1, kept.size()); // one empty option of three is kept (and warned about)
            assertEquals(List.of("", "y", "z"), kept.get(0).options());
            assertEquals(1, s.skipped());
        }
    }
}
