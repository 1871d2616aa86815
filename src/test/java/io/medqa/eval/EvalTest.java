package io.medqa.eval;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.model.ForwardParityTestAccess;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvalTest {

    @TempDir
    Path tmp;

    /** Each option's score is log softmax(logits)[letter] at the last prompt position, from the plain forward. */
    @Test
    void loglikScoresEqualLetterLogProbabilitiesOfTheForwardPass() throws Exception {
        TinyRun run = new TinyRun(tmp, 8);
        List<McqSample> samples = McqReader.readAll(McqReader.resolve(run.test.toString(), "auto", "auto", false))
                .subList(0, 5);
        int vocab = TinyRun.SPEC.vocab();
        try (QwenTokenizer tok = QwenTokenizer.load(run.model);
             Qwen3Model model = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT32)) {
            LetterScorer scorer = LetterScorer.chat(model, tok);
            double[][] batched = scorer.score(samples);
            for (int q = 0; q < samples.size(); q++) {
                // the byte tokenizer: prompt, then the bytes of "Answer: ", then the letter byte
                int[] ids = tok.encode(PromptFormat.prompt(samples.get(q)) + "Answer: ");
                assertArrayEquals(ids, scorer.inputIds(samples.get(q)));
                float[] logits = ForwardParityTestAccess.logits(model, new int[][] {ids});
                int row = (ids.length - 1) * vocab;
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; v++) {
                    max = Math.max(max, logits[row + v]);
                }
                double sum = 0;
                for (int v = 0; v < vocab; v++) {
                    sum += Math.exp(logits[row + v] - max);
                }
                for (int o = 0; o < 4; o++) {
                    double expected = logits[row + 'A' + o] - max - Math.log(sum);
                    assertEquals(expected, batched[q][o], 1e-4, "question " + q + " option " + o);
                }
            }
        }
    }

    @Test
    void wilsonIntervalMatchesTheFormula() {
        double[] ci = EvalReport.wilson(81, 100);
        assertEquals(0.7222, ci[0], 1e-4);
        assertEquals(0.8749, ci[1], 1e-4);
        double[] all = EvalReport.wilson(20, 20);
        assertEquals(1.0, all[1], 1e-12);
        assertTrue(all[0] > 0.8 && all[0] < 0.85, "lower bound " + all[0]);
    }

    @Test
    void reportCountsAddUp() {
        EvalReport r = new EvalReport();
        McqSample a = new McqSample("1", "q", List.of("w", "x", "y", "z"), 0, null, "Anatomy", "f:1");
        McqSample b = new McqSample("2", "q", List.of("w", "x", "y", "z"), 2, null, "Surgery", "f:2");
        r.add(a, 0);
        r.add(b, 1);
        r.add(b, -1);
        assertEquals(3, r.total());
        assertEquals(1, r.correct());
        var json = r.toJson();
        assertEquals(1, json.get("unparsed").asInt());
        assertEquals(1, json.get("confusion").get("C").get("B").asInt());
        assertEquals(1, json.get("confusion").get("C").get("none").asInt());
        assertEquals(2, json.get("by_subject").get("Surgery").get("questions").asInt());
        assertTrue(r.text().contains("accuracy 0.3333 (1/3)"), r.text());
    }

    @Test
    void lettersAreReadFromGeneratedAnswers() {
        assertEquals(2, PromptFormat.parseLetter("Answer: C\nExplanation: because", 4));
        assertEquals(1, PromptFormat.parseLetter("The answer is... Answer: (B)", 4));
        assertEquals(0, PromptFormat.parseLetter(" A. aspirin", 4));
        assertEquals(-1, PromptFormat.parseLetter("Answer: E", 4));
        assertEquals(-1, PromptFormat.parseLetter("I am not sure", 4));
    }

    @Test
    void lmEvalPromptsFollowTheHarness() {
        McqSample s = new McqSample("1", "Which?", List.of("a", "b", "c", "d"), 0, null, null, "f:1");
        assertEquals("Question: Which?\nA. a\nB. b\nC. c\nD. d\nAnswer:",
                PromptFormat.lmEval(s, io.medqa.data.McqFormat.MEDQA));
        assertEquals("Question: Which?\nChoices:\nA. a\nB. b\nC. c\nD. d\nAnswer:",
                PromptFormat.lmEval(s, io.medqa.data.McqFormat.MEDMCQA));
    }
}
