package io.medqa.train;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.eval.LetterScorer;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A tiny random model learns the synthetic task: held-out accuracy far above chance (0.25). */
class LearningTest {

    @TempDir
    Path tmp;

    @Test
    void tinyModelLearnsTheSyntheticTask() throws Exception {
        TinyRun run = new TinyRun(tmp, 1920);
        var tree = run.tree("train.epochs=2", "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]");
        var config = io.medqa.config.ConfigLoader.bind(tree, "test");
        long t0 = System.nanoTime();
        Trainer.Result result = new Trainer(config, tree, null, Listeners.QUIET, new AtomicBoolean()).run();
        double seconds = (System.nanoTime() - t0) / 1e9;

        List<McqSample> test = McqReader.readAll(McqReader.resolve(run.test.toString(), "auto", "auto", false));
        double before;
        double after;
        try (QwenTokenizer tok = QwenTokenizer.load(run.model);
             Qwen3Model model = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT32)) {
            before = LetterScorer.chat(model, tok).accuracy(test, 16);
            Map<String, float[]> trained = Checkpoints.readAll(run.output.resolve(LoraAdapter.WEIGHTS_FILE));
            try (LoraAdapter adapter = LoraAdapter.inject(model, config.lora(), 0, trained)) {
                after = LetterScorer.chat(model, tok).accuracy(test, 16);
            }
        }
        System.out.printf("learning: %d steps in %.1f s, final loss %.4f, held-out accuracy %.3f -> %.3f%n",
                result.steps(), seconds, result.finalLoss(), before, after);
        assertTrue(after >= 0.9, "held-out accuracy after training " + after + " (before " + before + ")");
        assertTrue(before < 0.5, "the random base should be near chance, got " + before);
    }
}
