package io.medqa.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.testing.ReferenceQwen3;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class GenerationTest {

    @TempDir
    static Path tmp;
    static Qwen3Model model;
    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.mha();
    static final int[] PROMPT = {257, 117, 115, 101, 114, 10, 72, 105, 258, 10, 257};

    @BeforeAll
    static void load() throws Exception {
        model = Qwen3Model.load(TinyQwen3.write(tmp.resolve("m"), SPEC, "F32", 1), Device.cpu(), DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Greedy ids by running the whole sequence through the model at every step, no cache. */
    private static int[] greedyWithoutCache(int[] prompt, int steps) {
        int[] ids = java.util.Arrays.copyOf(prompt, prompt.length + steps);
        for (int n = 0; n < steps; n++) {
            int length = prompt.length + n;
            float[] logits = ForwardParityTest.logits(model, new int[][] {java.util.Arrays.copyOf(ids, length)});
            float[] last = java.util.Arrays.copyOfRange(logits, (length - 1) * SPEC.vocab(), length * SPEC.vocab());
            ids[length] = Sampling.Chooser.argmax(last);
        }
        return ids;
    }

    @Test
    void kvCacheGenerationEqualsFullRecomputation() {
        Generator.Result cached = new Generator(model, Set.of()).generate(PROMPT, 12, Sampling.GREEDY, id -> { });
        assertArrayEquals(greedyWithoutCache(PROMPT, 12), cached.ids());
        assertEquals(Generator.Finish.LENGTH, cached.finish());
    }

    @Test
    void greedyIdsEqualTheIndependentReference() {
        int[] expected = new ReferenceQwen3(SPEC, TinyQwen3.weights(SPEC)).greedy(PROMPT, 10);
        assertArrayEquals(expected, new Generator(model, Set.of()).generate(PROMPT, 10, Sampling.GREEDY, id -> { }).ids());
    }

    @Test
    void stopsAtAStopTokenAndKeepsIt() {
        int[] free = new Generator(model, Set.of()).generate(PROMPT, 6, Sampling.GREEDY, id -> { }).ids();
        int third = free[PROMPT.length + 2];
        int firstIndex = PROMPT.length;
        while (free[firstIndex] != third) {
            firstIndex++;
        }
        List<Integer> streamed = new ArrayList<>();
        Generator.Result r = new Generator(model, Set.of(third)).generate(PROMPT, 6, Sampling.GREEDY, streamed::add);
        assertEquals(Generator.Finish.EOS, r.finish());
        assertEquals(firstIndex + 1, r.ids().length);
        assertEquals(r.generated().length, streamed.size());
    }

    @Test
    void samplingIsReproducibleBySeedAndTopKOneIsGreedy() {
        Generator g = new Generator(model, Set.of());
        Sampling hot = new Sampling(5.0, 0, 1.0, 42);
        int[] a = g.generate(PROMPT, 10, hot, id -> { }).ids();
        int[] b = g.generate(PROMPT, 10, hot, id -> { }).ids();
        int[] c = g.generate(PROMPT, 10, new Sampling(5.0, 0, 1.0, 43), id -> { }).ids();
        assertArrayEquals(a, b);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
        int[] topOne = g.generate(PROMPT, 10, new Sampling(5.0, 1, 1.0, 7), id -> { }).ids();
        assertArrayEquals(g.generate(PROMPT, 10, Sampling.GREEDY, id -> { }).ids(), topOne);
    }

    @Test
    void topPKeepsOnlyTheNucleus() {
        // probabilities ~ (0.64, 0.24, 0.09, 0.03): top_p 0.7 keeps the first two tokens only
        float[] logits = {3f, 2f, 1f, 0f};
        Sampling.Chooser chooser = new Sampling(1.0, 0, 0.7, 3).chooser();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 400; i++) {
            seen.add(chooser.next(logits));
        }
        assertEquals(Set.of(0, 1), seen);
    }
}
