package io.medqa.eval;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.model.ForwardParityTestAccess;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ChoiceScorerTest {

    @TempDir
    Path tmp;

    /** Sum over the continuation's tokens of log softmax(logits)[token], from one plain forward pass. */
    private static double reference(Qwen3Model model, int vocab, int[] context, int[] continuation) {
        int[] ids = Arrays.copyOf(context, context.length + continuation.length);
        System.arraycopy(continuation, 0, ids, context.length, continuation.length);
        float[] logits = ForwardParityTestAccess.logits(model, new int[][] {ids});
        double sum = 0;
        for (int k = 0; k < continuation.length; k++) {
            int row = (context.length - 1 + k) * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, logits[row + v]);
            }
            double z = 0;
            for (int v = 0; v < vocab; v++) {
                z += Math.exp(logits[row + v] - max);
            }
            sum += logits[row + continuation[k]] - max - Math.log(z);
        }
        return sum;
    }

    @Test
    void multiTokenContinuationsSumTheirTokensLogProbabilities() throws Exception {
        TinyQwen3.Spec spec = TinyQwen3.Spec.gqa();
        Path dir = TinyQwen3.write(tmp.resolve("m"), spec, "F32", 1);
        try (QwenTokenizer tok = QwenTokenizer.load(dir);
             Qwen3Model model = Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32)) {
            List<String> words = List.of(" yes", " no", " maybe");
            String[] contexts = {"Abstract: a\nQuestion: b?\nAnswer:", "Abstract: longer text here\nQuestion: c?\nAnswer:"};
            // With the byte tokenizer, " yes" is four tokens: the per-choice path runs.
            ChoiceScorer scorer = new ChoiceScorer(model, tok, s -> new ChoiceScorer.Request(
                    s.question(), words));
            List<io.medqa.data.McqSample> batch = List.of(
                    new io.medqa.data.McqSample("1", contexts[0], List.of("yes", "no", "maybe"), 0, null, null, "f:1"),
                    new io.medqa.data.McqSample("2", contexts[1], List.of("yes", "no", "maybe"), 0, null, null, "f:2"));
            double[][] scores = scorer.score(batch);
            for (int q = 0; q < 2; q++) {
                for (int c = 0; c < 3; c++) {
                    double expected = reference(model, spec.vocab(), tok.encode(contexts[q]), tok.encode(words.get(c)));
                    assertEquals(expected, scores[q][c], 2e-4, "question " + q + " choice " + c);
                }
            }
            // A one-token continuation ("A" after a trailing space moved onto it is two bytes, so use letters
            // without the space) takes the single-sequence path and must agree with the same reference.
            ChoiceScorer letters = new ChoiceScorer(model, tok, s -> new ChoiceScorer.Request(s.question(),
                    List.of("A", "B", "C", "D")));
            double[][] single = letters.score(batch.subList(0, 1));
            for (int c = 0; c < 4; c++) {
                double expected = reference(model, spec.vocab(), tok.encode(contexts[0]), new int[] {'A' + c});
                assertEquals(expected, single[0][c], 2e-4, "letter " + c);
            }
        }
    }
}
