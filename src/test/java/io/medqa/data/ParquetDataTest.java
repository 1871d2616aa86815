package io.medqa.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.testing.ParquetFixtures;
import org.apache.parquet.ParquetReadOptions;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalInputFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParquetDataTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** MedMCQA rows as the Hub export has them: cop 0-based. */
    static List<ObjectNode> medmcqa(int n) {
        List<ObjectNode> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rows.add(JSON.createObjectNode().put("id", "m" + i).put("question", "Which nerve, case " + i + "?")
                    .put("opa", "alpha").put("opb", "beta").put("opc", "gamma").put("opd", "delta").put("cop", i % 4)
                    .put("choice_type", "single").putNull("exp").put("subject_name", "Anatomy").put("topic_name", "x"));
        }
        return rows;
    }

    private static List<McqSample> read(Path spec, String split) {
        return McqReader.readAll(McqReader.resolve(spec.toString(), split, "auto", "auto", false));
    }

    private static void fails(String expected, Runnable r) {
        MedqaException e = assertThrows(MedqaException.class, r::run);
        assertEquals(ExitCodes.DATA, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void testsRunWithoutHadoopsRuntime() {
        // Hadoop's Configuration needs the shaded woodstox of hadoop-client-runtime to start; it is absent, so
        // every parquet test here passing shows that reading never builds a Configuration.
        assertThrows(ClassNotFoundException.class,
                () -> Class.forName("org.apache.hadoop.shaded.com.ctc.wstx.io.InputBootstrapper"));
        assertThrows(NoClassDefFoundError.class, () -> new org.apache.hadoop.conf.Configuration().get("x"));
    }

    @Test
    void medmcqaExportStreamsRowGroupByRowGroupWithZeroBasedCop() throws Exception {
        Path f = ParquetFixtures.write(tmp.resolve("validation-00000-of-00001.parquet"), ParquetFixtures.MEDMCQA,
                medmcqa(40), CompressionCodecName.SNAPPY, true);
        try (ParquetFileReader r = new ParquetFileReader(new LocalInputFile(f),
                ParquetReadOptions.builder(new PlainParquetConfiguration()).withCodecFactory(new ParquetCodecs()).build())) {
            assertTrue(r.getRowGroups().size() >= 10, "row groups: " + r.getRowGroups().size());
        }
        McqReader.Source s = McqReader.resolve(f.toString(), "auto", "auto", false);
        assertEquals(McqFormat.MEDMCQA, s.format());
        assertEquals(0, s.copBase());
        assertTrue(s.note().startsWith("parquet, format medmcqa (detected), cop 0-based"), s.note());
        List<McqSample> all = McqReader.readAll(s);
        assertEquals(40, all.size());
        for (int i = 0; i < 40; i++) {
            assertEquals(i % 4, all.get(i).answer());
            assertEquals("m" + i, all.get(i).id());
            assertEquals(f + ":" + (i + 1), all.get(i).source());
        }
        assertEquals(List.of("alpha", "beta", "gamma", "delta"), all.get(0).options());
        assertEquals(null, all.get(0).explanation());
    }

    @ParameterizedTest
    @EnumSource(value = CompressionCodecName.class, names = {"UNCOMPRESSED", "SNAPPY", "ZSTD", "GZIP"})
    void everyHubCodecReads(CompressionCodecName codec) throws Exception {
        Path f = ParquetFixtures.write(tmp.resolve("m.parquet"), ParquetFixtures.MEDMCQA, medmcqa(9), codec, false);
        List<McqSample> all = read(f, null);
        assertEquals(9, all.size());
        assertEquals("Which nerve, case 8?", all.get(8).question());
    }

    @Test
    void badRowsNameFileAndRow() throws Exception {
        List<ObjectNode> rows = medmcqa(6);
        rows.get(2).put("cop", 7);
        rows.get(4).putNull("question");
        Path f = ParquetFixtures.write(tmp.resolve("m.parquet"), ParquetFixtures.MEDMCQA, rows, CompressionCodecName.SNAPPY, true);
        fails(f + ":3: cop 7 is out of range for 0-based answers (0..3)", () -> read(f, null));
        McqReader.Source skip = McqReader.resolve(f.toString(), "medmcqa", "0", true);
        try (McqReader.Samples s = McqReader.open(skip)) {
            List<McqSample> kept = new ArrayList<>();
            s.forEachRemaining(kept::add);
            assertEquals(4, kept.size());
            assertEquals(2, s.skipped());
            assertEquals(f + ":6", kept.get(3).source());
        }
        List<ObjectNode> missing = medmcqa(3);
        missing.get(1).putNull("question");
        Path g = ParquetFixtures.write(tmp.resolve("q.parquet"), ParquetFixtures.MEDMCQA, missing);
        fails(g + ":2: field question is missing", () -> read(g, null));
    }

    @Test
    void notParquetAndUnknownColumnsAreOneLineErrors() throws Exception {
        Path junk = Files.writeString(tmp.resolve("junk.parquet"), "not parquet at all");
        fails(junk + ": not a readable parquet file", () -> read(junk, null));
        Path other = ParquetFixtures.write(tmp.resolve("o.parquet"), "message s { optional binary text (STRING); }",
                List.of(JSON.createObjectNode().put("text", "hello")));
        fails(other + ":1: neither MedMCQA", () -> read(other, null));
    }

    @Test
    void folderAsDownloadedTakesTheSplitFromFileNames() throws Exception {
        Path dir = tmp.resolve("medmcqa");
        ParquetFixtures.write(dir.resolve("data/train-00000-of-00002.parquet"), ParquetFixtures.MEDMCQA, medmcqa(5));
        ParquetFixtures.write(dir.resolve("data/train-00001-of-00002.parquet"), ParquetFixtures.MEDMCQA, medmcqa(3));
        ParquetFixtures.write(dir.resolve("data/validation-00000-of-00001.parquet"), ParquetFixtures.MEDMCQA, medmcqa(2));
        Files.writeString(dir.resolve("data/.validation-00000-of-00001.parquet.etag"), "x");
        Files.writeString(dir.resolve("README.md"), "card");
        assertEquals(8, read(dir, "train").size());
        assertEquals(2, read(dir, "validation").size());
        assertEquals(10, read(dir, null).size());
        assertEquals(8, read(dir.resolve("data/train-*.parquet"), null).size());
        MedqaException e = assertThrows(MedqaException.class, () -> read(dir, "test"));
        assertEquals(ExitCodes.NO_INPUT, e.exitCode());
        assertTrue(e.getMessage().contains("no test file in the folder"), e.getMessage());
        Files.writeString(dir.resolve("data/extra-test.jsonl"), "{}\n");
        fails("mixes parquet and JSONL", () -> read(dir, null));
    }

    @Test
    void splitNamesFollowTheHubsFileNames() {
        assertEquals("train", DataFiles.splitOf(Path.of("data/train-00000-of-00001.parquet")));
        assertEquals("validation", DataFiles.splitOf(Path.of("medmcqa_dev.jsonl")));
        assertEquals("validation", DataFiles.splitOf(Path.of("validation-00000-of-00001.parquet")));
        assertEquals("test", DataFiles.splitOf(Path.of("medqa_usmle4_test.jsonl")));
        assertEquals(null, DataFiles.splitOf(Path.of("contest.jsonl")));
    }

    @Test
    void medqaFourOptionsWithOptionsStruct() throws Exception {
        ObjectNode row = JSON.createObjectNode().put("question", "Best next step?").put("answer", "scan");
        row.putObject("options").put("A", "rest").put("B", "scan").put("C", "surgery").put("D", "wait");
        row.put("meta_info", "step1").put("answer_idx", "B");
        Path f = ParquetFixtures.write(tmp.resolve("test.parquet"), ParquetFixtures.MEDQA, List.of(row));
        McqSample s = read(f, null).get(0);
        assertEquals(List.of("rest", "scan", "surgery", "wait"), s.options());
        assertEquals(1, s.answer());
        assertEquals("step1", s.subject());
    }

    @Test
    void medqaHfExportInParquetAndJsonl() throws Exception {
        ObjectNode row = JSON.createObjectNode().put("id", "h1").put("sent1", "A man has a cough. Next step?")
                .put("sent2", "").put("ending0", "rest").put("ending1", "scan").put("ending2", "surgery")
                .put("ending3", "wait").put("label", 2);
        Path f = ParquetFixtures.write(tmp.resolve("test.parquet"), ParquetFixtures.MEDQA_HF, List.of(row));
        Path j = Files.writeString(tmp.resolve("test.jsonl"), row + "\n");
        for (Path p : List.of(f, j)) {
            McqReader.Source src = McqReader.resolve(p.toString(), "auto", "auto", false);
            assertEquals(McqFormat.MEDQA_HF, src.format());
            McqSample s = McqReader.readAll(src).get(0);
            assertEquals("A man has a cough. Next step?", s.question());
            assertEquals(List.of("rest", "scan", "surgery", "wait"), s.options());
            assertEquals(2, s.answer());
            assertEquals("h1", s.id());
        }
        row.put("label", 4);
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), row + "\n");
        fails(bad + ":1: label 4 is out of range for 4 options (0..3)", () -> read(bad, null));
    }

    @Test
    void pubmedqaLabeledWithContextsAndDecision() throws Exception {
        ObjectNode row = JSON.createObjectNode().put("pubid", 101).put("question", "Does rest help?");
        ObjectNode ctx = row.putObject("context");
        ctx.putArray("contexts").add("First part.").add("Second part.");
        ctx.putArray("labels").add("BACKGROUND").add("RESULTS");
        row.put("long_answer", "It helps.").put("final_decision", "maybe");
        Path f = ParquetFixtures.write(tmp.resolve("pqa_labeled/train-00000-of-00001.parquet"), ParquetFixtures.PUBMEDQA,
                List.of(row));
        McqReader.Source src = McqReader.resolve(f.toString(), "auto", "auto", false);
        assertEquals(McqFormat.PUBMEDQA, src.format());
        McqSample s = McqReader.readAll(src).get(0);
        assertEquals(List.of("yes", "no", "maybe"), s.options());
        assertEquals(2, s.answer());
        assertEquals("First part.\nSecond part.", s.context());
        assertEquals("101", s.id());
        assertEquals("It helps.", s.explanation());
        assertEquals("Abstract: First part.\nSecond part.\nQuestion: Does rest help?\nAnswer:",
                PromptFormat.lmEval(s, McqFormat.PUBMEDQA));
        assertEquals(List.of("yes", "no", "maybe"), PromptFormat.lmEvalChoices(s, McqFormat.PUBMEDQA));
        assertTrue(PromptFormat.userMessage(s).contains("Context: First part.\nSecond part.\n\nQuestion: Does rest help?"));
        // BigBio's source export spells the columns in capitals.
        Path big = Files.writeString(tmp.resolve("b.jsonl"), "{\"QUESTION\":\"Q?\",\"CONTEXTS\":[\"c1\"],"
                + "\"final_decision\":\"no\",\"LONG_ANSWER\":\"x\"}\n{\"QUESTION\":\"Q2?\",\"CONTEXTS\":[\"c\"],"
                + "\"final_decision\":\"perhaps\"}\n");
        fails(big + ":2: final_decision \"perhaps\" is not yes, no or maybe", () -> read(big, null));
        assertEquals(1, McqReader.readAll(McqReader.resolve(big.toString(), "pubmedqa", "auto", true)).get(0).answer());
    }

    @Test
    void mmluChoicesListAndAnswerIndex() throws Exception {
        ObjectNode row = JSON.createObjectNode().put("question", "  Which bone is in the arm?  ").put("subject", "anatomy");
        row.putArray("choices").add("femur").add("humerus").add("tibia").add("fibula");
        row.put("answer", 1);
        Path f = ParquetFixtures.write(tmp.resolve("anatomy/test-00000-of-00001.parquet"), ParquetFixtures.MMLU, List.of(row));
        McqReader.Source src = McqReader.resolve(f.toString(), "auto", "auto", false);
        assertEquals(McqFormat.MMLU, src.format());
        McqSample s = McqReader.readAll(src).get(0);
        assertEquals(List.of("femur", "humerus", "tibia", "fibula"), s.options());
        assertEquals(1, s.answer());
        assertEquals("anatomy", s.subject());
        assertEquals("The following are multiple choice questions (with answers) about anatomy.\n\n"
                + "Which bone is in the arm?\nA. femur\nB. humerus\nC. tibia\nD. fibula\nAnswer:", PromptFormat.lmEval(s, McqFormat.MMLU));
        row.put("subject", "clinical_knowledge");
        McqSample ck = McqReader.readAll(McqReader.resolve(Files.writeString(tmp.resolve("ck.jsonl"), row + "\n").toString(),
                "auto", "auto", false)).get(0);
        assertTrue(PromptFormat.lmEval(ck, McqFormat.MMLU).startsWith("The following are multiple choice questions "
                + "(with answers) about clinical knowledge.\n\n"));
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), "{\"question\":\"q\",\"choices\":\"femur\",\"answer\":0}\n");
        fails(bad + ":1: field choices is not a list", () -> read(bad, null));
    }
}
