package io.medqa.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Model;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A checkpoint save that fails half way (as on a full disk) leaves neither the checkpoint nor its .partial. */
class CheckpointSaveTest {

    @TempDir
    Path tmp;

    @Test
    void aFailedSaveLeavesNoPartialFolder() throws Exception {
        TinyRun run = new TinyRun(tmp, 8);
        Path out = Files.createDirectories(tmp.resolve("out"));
        try (Qwen3Model model = Qwen3Model.load(run.model, Device.cpu(), DataType.FLOAT32);
             LoraAdapter adapter = LoraAdapter.inject(model, run.config().lora(), 1, null)) {
            List<NDArray> params = new ArrayList<>();
            adapter.params().forEach(p -> params.add(p.array()));
            TrainerState state = new TrainerState(3, 10, 0, 24, 1, 1, 0, 0, 3, 100, "sha", "id");
            AdamW good = new AdamW(params, 0.9, 0.999, 1e-8, 0);
            Path saved = Checkpoints.save(out, state, adapter, good, run.model.toString(), 2);
            good.close();
            assertEquals(out.resolve("checkpoint-3"), saved);

            // The adapter is written into .checkpoint-4.partial, then the optimizer's moments fail to be read.
            AdamW broken = new AdamW(params, 0.9, 0.999, 1e-8, 0);
            broken.close();
            TrainerState next = new TrainerState(4, 10, 0, 32, 1, 1, 0, 0, 4, 130, "sha", "id");
            MedqaException e = assertThrows(MedqaException.class,
                    () -> Checkpoints.save(out, next, adapter, broken, run.model.toString(), 2));
            assertEquals(ExitCodes.IO, e.exitCode());
            assertTrue(e.getMessage().startsWith(out.resolve("checkpoint-4") + ": cannot write checkpoint"), e.getMessage());
            try (var files = Files.list(out)) {
                assertEquals(List.of(out.resolve("checkpoint-3")), files.toList());
            }
        }
    }
}
