package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.eval.EvalReport;
import io.medqa.eval.McNemar;
import io.medqa.model.TinyQwen3;
import io.medqa.testing.ParquetFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The suite through the CLI on a folder laid out as the Hub's downloads are, with a tiny model. */
class SuiteCliTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private static List<ObjectNode> medmcqa(int n, int offset) {
        List<ObjectNode> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rows.add(JSON.createObjectNode().put("id", "m" + (offset + i)).put("question", "Which organ " + i + "?")
                    .put("opa", "heart").put("opb", "lung").put("opc", "liver").put("opd", "skin").put("cop", i % 4)
                    .put("choice_type", "single").putNull("exp").put("subject_name", "Anatomy").put("topic_name", "t"));
        }
        return rows;
    }

    private static List<ObjectNode> mmlu(String subject, int n) {
        List<ObjectNode> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ObjectNode r = JSON.createObjectNode().put("question", "Which part " + i + "?").put("subject", subject);
            r.putArray("choices").add("one").add("two").add("three").add("four");
            rows.add(r.put("answer", (i + 1) % 4));
        }
        return rows;
    }

    private Path dataDir() throws Exception {
        Path d = tmp.resolve("data");
        ParquetFixtures.write(d.resolve("medmcqa/data/train-00000-of-00001.parquet"), ParquetFixtures.MEDMCQA, medmcqa(9, 100));
        ParquetFixtures.write(d.resolve("medmcqa/data/validation-00000-of-00001.parquet"), ParquetFixtures.MEDMCQA, medmcqa(6, 0));
        ParquetFixtures.write(d.resolve("mmlu/anatomy/test-00000-of-00001.parquet"), ParquetFixtures.MMLU, mmlu("anatomy", 5));
        ParquetFixtures.write(d.resolve("mmlu/anatomy/dev-00000-of-00001.parquet"), ParquetFixtures.MMLU, mmlu("anatomy", 2));
        ParquetFixtures.write(d.resolve("mmlu/astronomy/test-00000-of-00001.parquet"), ParquetFixtures.MMLU, mmlu("astronomy", 3));
        List<ObjectNode> pqa = new ArrayList<>();
        String[] decisions = {"yes", "no", "maybe", "yes"};
        for (int i = 0; i < 4; i++) {
            ObjectNode r = JSON.createObjectNode().put("pubid", i).put("question", "Does it work " + i + "?");
            r.putObject("context").putArray("contexts").add("Part one.").add("Part two.");
            pqa.add(r.put("long_answer", "So.").put("final_decision", decisions[i]));
        }
        ParquetFixtures.write(d.resolve("pubmed_qa/pqa_labeled/train-00000-of-00001.parquet"), ParquetFixtures.PUBMEDQA, pqa);
        StringBuilder medqa = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            medqa.append("{\"question\":\"Next step ").append(i).append("?\",\"options\":{\"A\":\"rest\",\"B\":\"scan\","
                    + "\"C\":\"wait\",\"D\":\"operate\"},\"answer_idx\":\"").append("ABCD".charAt(i)).append("\"}\n");
        }
        Files.createDirectories(d.resolve("medqa"));
        Files.writeString(d.resolve("medqa/medqa_usmle4_test.jsonl"), medqa);
        return d;
    }

    @Test
    void suiteTablesEverySetAndComparesWithMcNemar() throws Exception {
        Path model = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        Path data = dataDir();
        Path runA = tmp.resolve("runA");
        CliTest.Run a = CliTest.run("eval", "--suite", "multimedqa", "--data-dir", data.toString(), "--model",
                model.toString(), "--device", "cpu", "--out", runA.toString());
        assertEquals(0, a.code(), a.err());
        JsonNode summary = JSON.readTree(runA.resolve("summary.json").toFile());
        List<String> names = new ArrayList<>();
        summary.get("sets").forEach(s -> names.add(s.get("set").asText()));
        assertEquals(List.of("pubmedqa", "medmcqa", "medqa_4options", "mmlu_anatomy"), names);
        int[] questions = {4, 6, 3, 5};
        double macro = 0;
        for (int i = 0; i < 4; i++) {
            JsonNode s = summary.get("sets").get(i);
            assertEquals(questions[i], s.get("questions").asInt(), names.get(i));
            long correct = Files.readAllLines(runA.resolve(names.get(i)).resolve("predictions.jsonl")).stream()
                    .filter(l -> l.contains("\"correct\":true")).count();
            assertEquals(correct, s.get("correct").asLong());
            double[] ci = EvalReport.wilson(correct, questions[i]);
            assertEquals(ci[0], s.get("accuracy_ci95").get(0).asDouble(), 1e-12);
            macro += (double) correct / questions[i] / 4;
        }
        assertEquals("validation", summary.get("sets").get(1).get("split").asText());
        assertEquals("train", summary.get("sets").get(0).get("split").asText());
        assertEquals(macro, summary.get("macro_accuracy").asDouble(), 1e-12);
        assertTrue(a.out().contains("macro average"), a.out());
        assertTrue(a.err().contains("not in the suite: 1 file(s), e.g. mmlu/astronomy"), a.err());
        String report = Files.readString(runA.resolve("report.md"));
        assertTrue(report.contains("| mmlu_anatomy | test | 5 |"), report);
        assertFalse(Files.list(runA).anyMatch(p -> p.getFileName().toString().endsWith(".tmp")));

        // A base run that answered every MedMCQA question right: b = this run's wrong answers, c = 0.
        Path base = tmp.resolve("base");
        Files.createDirectories(base.resolve("medmcqa"));
        List<String> lines = Files.readAllLines(runA.resolve("medmcqa/predictions.jsonl"));
        long wrong = lines.stream().filter(l -> l.contains("\"correct\":false")).count();
        StringBuilder allRight = new StringBuilder();
        for (String l : lines) {
            allRight.append(l.replace("\"correct\":false", "\"correct\":true")).append('\n');
        }
        Files.writeString(base.resolve("medmcqa/predictions.jsonl"), allRight);
        Files.writeString(base.resolve("summary.json"), "{\"sets\":[{\"set\":\"medmcqa\"}]}");
        CliTest.Run b = CliTest.run("eval", "--suite", "multimedqa", "--data-dir", data.toString(), "--model",
                model.toString(), "--device", "cpu", "--out", tmp.resolve("runB").toString(), "--compare", base.toString());
        assertEquals(0, b.code(), b.err());
        JsonNode cmp = JSON.readTree(tmp.resolve("runB/summary.json").toFile()).get("compare");
        assertEquals(1, cmp.get("sets").size());
        JsonNode m = cmp.get("sets").get(0);
        assertEquals(wrong, m.get("only_base_right").asLong());
        assertEquals(0, m.get("only_this_right").asLong());
        assertEquals(1.0, m.get("base_accuracy").asDouble(), 1e-12);
        assertEquals(McNemar.exactP(wrong, 0), m.get("p_value").asDouble(), 1e-12);
        assertTrue(Files.readString(tmp.resolve("runB/report.md")).contains("## Compared with"));
        assertTrue(b.out().contains("compared with"), b.out());

        // A base with other questions is refused with the file and line.
        Files.writeString(base.resolve("medmcqa/predictions.jsonl"), lines.get(0).replace("\"gold\":\"A\"", "\"gold\":\"D\"")
                + "\n" + String.join("\n", lines.subList(1, lines.size())) + "\n");
        CliTest.Run c = CliTest.run("eval", "--suite", "multimedqa", "--data-dir", data.toString(), "--model",
                model.toString(), "--device", "cpu", "--out", tmp.resolve("runC").toString(), "--compare", base.toString());
        assertEquals(ExitCodes.DATA, c.code(), c.err());
        assertTrue(c.err().contains(base.resolve("medmcqa/predictions.jsonl") + ":1: gold answer D differs"), c.err());
    }

    @Test
    void suiteUsageErrors() throws Exception {
        Path data = Files.createDirectories(tmp.resolve("empty"));
        CliTest.Run noSets = CliTest.run("eval", "--suite", "multimedqa", "--data-dir", data.toString(), "--model",
                tmp.toString());
        assertEquals(ExitCodes.NO_INPUT, noSets.code(), noSets.err());
        CliTest.Run name = CliTest.run("eval", "--suite", "mmlu", "--data-dir", data.toString(), "--model", tmp.toString());
        assertEquals(ExitCodes.USAGE, name.code(), name.err());
        CliTest.Run noBase = CliTest.run("eval", "--suite", "multimedqa", "--data-dir", data.toString(), "--model",
                tmp.toString(), "--compare", tmp.resolve("nowhere").toString());
        assertEquals(ExitCodes.NO_INPUT, noBase.code(), noBase.err());
        assertTrue(noBase.err().contains("nowhere/summary.json: file not found"), noBase.err());
    }
}
