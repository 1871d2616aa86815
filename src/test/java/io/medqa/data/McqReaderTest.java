package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class McqReaderTest {

    @TempDir
    Path tmp;

    static final String MEDMCQA_1 = "{\"id\":\"q1\",\"question\":\"Which vessel?\",\"opa\":\"w\",\"opb\":\"x\","
            + "\"opc\":\"y\",\"opd\":\"z\",\"cop\":4,\"exp\":\"Because z.\",\"subject_name\":\"Anatomy\"}";
    static final String MEDMCQA_2 = "{\"id\":\"q2\",\"question\":\"Which bone?\",\"opa\":\"a\",\"opb\":\"b\","
            + "\"opc\":\"c\",\"opd\":\"d\",\"cop\":1,\"exp\":null,\"subject_name\":\"Anatomy\"}";
    static final String MEDQA = "{\"question\":\"Best next step?\",\"options\":{\"A\":\"rest\",\"B\":\"scan\","
            + "\"C\":\"surgery\",\"D\":\"wait\"},\"answer_idx\":\"B\",\"answer\":\"scan\",\"meta_info\":\"step1\"}";

    private Path file(String name, String... lines) throws Exception {
        Path f = tmp.resolve(name);
        Files.writeString(f, String.join("\n", lines) + "\n");
        return f;
    }

    private static List<McqSample> read(Path f, String format, String copBase) {
        return McqReader.readAll(McqReader.resolve(f.toString(), format, copBase, false));
    }

    private static void fails(String expected, Runnable r) {
        MedqaException e = assertThrows(MedqaException.class, r::run);
        assertEquals(ExitCodes.DATA, e.exitCode());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void readsMedmcqaWithDetectedOneBasedCop() throws Exception {
        Path f = file("m.jsonl", MEDMCQA_1, "", MEDMCQA_2);
        McqReader.Source s = McqReader.resolve(f.toString(), "auto", "auto", false);
        assertEquals(McqFormat.MEDMCQA, s.format());
        assertEquals(1, s.copBase());
        assertTrue(s.note().contains("1-based (detected"), s.note());
        List<McqSample> all = McqReader.readAll(s);
        assertEquals(2, all.size());
        assertEquals(3, all.get(0).answer());
        assertEquals('D', all.get(0).answerLetter());
        assertEquals("Because z.", all.get(0).explanation());
        assertNull(all.get(1).explanation());
        assertEquals(f + ":3", all.get(1).source());
    }

    @Test
    void zeroBasedCopIsDetectedOrConfigured() throws Exception {
        Path f = file("m.jsonl", MEDMCQA_1.replace("\"cop\":4", "\"cop\":0"), MEDMCQA_2);
        assertEquals(0, McqReader.resolve(f.toString(), "auto", "auto", false).copBase());
        assertEquals(0, read(f, "auto", "auto").get(0).answer());
        // cop 1..3 only: ambiguous
        Path g = file("g.jsonl", MEDMCQA_2, MEDMCQA_2.replace("\"cop\":1", "\"cop\":2"));
        fails("cannot tell whether cop is 0-based", () -> McqReader.resolve(g.toString(), "auto", "auto", false));
        assertEquals(1, read(g, "medmcqa", "0").get(0).answer());
        assertEquals(0, read(g, "medmcqa", "1").get(0).answer());
    }

    @Test
    void readsMedqa() throws Exception {
        Path f = file("q.jsonl", MEDQA);
        McqSample s = read(f, "auto", "auto").get(0);
        assertEquals(List.of("rest", "scan", "surgery", "wait"), s.options());
        assertEquals(1, s.answer());
        assertEquals("step1", s.subject());
        Path five = file("q5.jsonl", MEDQA.replace("\"D\":\"wait\"", "\"D\":\"wait\",\"E\":\"refer\"")
                .replace("\"B\"}", "\"E\"}").replace("\"answer_idx\":\"B\"", "\"answer_idx\":\"E\""));
        assertEquals(4, read(five, "medqa", "auto").get(0).answer());
    }

    @Test
    void badLinesNameFileAndLine() throws Exception {
        Path f = file("bad.jsonl", MEDMCQA_1, "{\"question\": \"x\", \"opa\": ");
        fails(f + ":2: malformed JSON", () -> read(f, "medmcqa", "1"));
        Path missing = file("missing.jsonl", MEDMCQA_1, MEDMCQA_2.replace("\"opc\":\"c\",", ""));
        fails(missing + ":2: field opc is missing", () -> read(missing, "medmcqa", "1"));
        Path range = file("range.jsonl", MEDMCQA_1.replace("\"cop\":4", "\"cop\":7"));
        fails(range + ":1: cop 7 is out of range for 1-based answers (1..4)", () -> read(range, "medmcqa", "1"));
        Path hidden = file("hidden.jsonl", MEDMCQA_1.replace("\"cop\":4", "\"cop\":-1"));
        fails("the label is hidden", () -> read(hidden, "medmcqa", "0"));
        Path letter = file("letter.jsonl", MEDQA.replace("\"answer_idx\":\"B\"", "\"answer_idx\":\"F\""));
        fails(letter + ":1: answer_idx \"F\" is not one of the option letters ABCD", () -> read(letter, "medqa", "auto"));
        Path neither = file("neither.jsonl", "{\"text\": \"hello\"}");
        fails(neither + ":1: neither MedMCQA", () -> read(neither, "auto", "auto"));
        Path empty = file("empty.jsonl", "");
        fails("the dataset is empty", () -> read(empty, "auto", "auto"));
    }

    @Test
    void skipModeCountsBadLines() throws Exception {
        Path f = file("mixed.jsonl", MEDMCQA_1, "not json", MEDMCQA_2.replace("\"cop\":1", "\"cop\":9"), MEDMCQA_2);
        McqReader.Source s = McqReader.resolve(f.toString(), "medmcqa", "1", true);
        try (McqReader.Samples samples = McqReader.open(s)) {
            List<McqSample> kept = new ArrayList<>();
            samples.forEachRemaining(kept::add);
            assertEquals(2, kept.size());
            assertEquals(2, samples.skipped());
        }
    }

    @Test
    void globsExpandSortedAndMissingFilesAreNamed() throws Exception {
        file("part-2.jsonl", MEDMCQA_2);
        file("part-1.jsonl", MEDMCQA_1);
        List<McqSample> all = read(tmp.resolve("part-*.jsonl"), "auto", "auto");
        assertEquals(List.of("q1", "q2"), all.stream().map(McqSample::id).toList());
        MedqaException e = assertThrows(MedqaException.class, () -> McqReader.expand(tmp.resolve("nope.jsonl").toString()));
        assertEquals(ExitCodes.NO_INPUT, e.exitCode());
        assertTrue(e.getMessage().endsWith("nope.jsonl: file not found"));
    }

    @Test
    void shuffleBufferIsASeededPermutation() {
        List<Integer> in = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            in.add(i);
        }
        List<Integer> a = new ArrayList<>();
        new ShuffleBuffer<>(in.iterator(), 64, 7).forEachRemaining(a::add);
        List<Integer> b = new ArrayList<>();
        new ShuffleBuffer<>(in.iterator(), 64, 7).forEachRemaining(b::add);
        List<Integer> c = new ArrayList<>();
        new ShuffleBuffer<>(in.iterator(), 8, 7).forEachRemaining(c::add);
        assertEquals(a, b);
        assertNotEquals(in, a);
        assertEquals(in, a.stream().sorted().toList());
        assertEquals(in, c.stream().sorted().toList());
    }
}
