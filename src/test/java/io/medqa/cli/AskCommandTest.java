package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.MedqaException;
import io.medqa.data.McqSample;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AskCommandTest {

    @TempDir
    Path tmp;

    private static McqSample read(String typed) throws Exception {
        return AskCommand.readQuestion(new BufferedReader(new StringReader(typed)), new PrintWriter(new StringWriter()),
                "question 1");
    }

    @Test
    void typedOptionsMayCarryTheirLetters() throws Exception {
        McqSample dotted = read("Which organ?\nA. heart\nB. lung\nC. liver\n\n");
        assertEquals("Which organ?", dotted.question());
        assertEquals(List.of("heart", "lung", "liver"), dotted.options());
        assertEquals(List.of("heart", "lung"), read("Q?\na) heart\nb) lung\n\n").options());
        assertEquals(List.of("heart", "lung"), read("Q?\nheart\nlung\n").options(), "plain lines; the input ends");
        assertEquals(List.of("A. b", "c"), read("Q?\nA. A. b\nc\n\n").options(), "only the leading letter is taken");
        assertEquals(5, read("Q?\na\nb\nc\nd\ne\n").options().size(), "the fifth option ends the question");
        assertNull(read("\n"), "an empty question line quits");
        assertNull(read(""), "so does the end of the input");
    }

    @Test
    void badlyTypedQuestionsAreRefusedNamingTheProblem() {
        MedqaException order = assertThrows(MedqaException.class, () -> read("Q?\nB. heart\nA. lung\n\n"));
        assertTrue(order.getMessage().contains("question 1: option 1 is lettered B, expected A"), order.getMessage());
        MedqaException one = assertThrows(MedqaException.class, () -> read("Q?\nA. heart\n\n"));
        assertTrue(one.getMessage().contains("give 2 to 5 options"), one.getMessage());
    }

    @Test
    void interactiveJsonFromAFileIsPureJsonOnStdout() throws Exception {
        Path model = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        String typed = "Which organ?\nA. heart\nB) lung\nliver\n\nSecond?\nx\ny\n\n";
        InputStream saved = System.in;
        CliTest.Run r;
        try {
            System.setIn(new ByteArrayInputStream(typed.getBytes(StandardCharsets.UTF_8)));
            r = CliTest.run("ask", "--model", model.toString(), "--json", "--max-new-tokens", "3");
        } finally {
            System.setIn(saved);
        }
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(2, lines.size(), r.out());
        ObjectMapper json = new ObjectMapper();
        JsonNode first = json.readTree(lines.get(0));
        assertEquals("Which organ?", first.get("question").asText());
        assertEquals("lung", first.get("options").get("B").asText());
        assertEquals("liver", first.get("options").get("C").asText());
        assertEquals("y", json.readTree(lines.get(1)).get("options").get("B").asText());
        assertTrue(r.err().contains("Question (empty line to quit): "), "the prompts go to stderr");
    }

    @Test
    void optionsWithoutAQuestionAreAUsageError() throws Exception {
        Path model = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        CliTest.Run r = CliTest.run("ask", "--model", model.toString(), "--option", "A=heart", "--option", "B=lung");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("medqa: error: --option needs a QUESTION"), r.err());
    }
}
