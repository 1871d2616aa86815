package io.medqa.lora;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.config.TrainConfig;
import io.medqa.model.Qwen3Model;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The global gradient norm is a norm of per-matrix norms, and its last bit depends on the order they
 * are summed in: PEFT's model.parameters() goes layer by layer in the module order of the model (q, k,
 * v, o, gate, up, down; A before B), whatever order target_modules lists. The config's order stays
 * in {@link LoraAdapter#params()}, which checkpoints index their moments by.
 */
class LoraParamOrderTest {

    @TempDir
    Path tmp;

    @Test
    void modelOrderIsPeftsWhateverTheTargetsOrder() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        TrainConfig.Lora lora = new TrainConfig.Lora(4, 8, 0.0, List.of("down_proj", "v_proj", "q_proj"), false);
        try (Qwen3Model model = Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32);
             LoraAdapter adapter = LoraAdapter.inject(model, lora, 1, null)) {
            List<String> expected = new ArrayList<>();
            List<String> config = new ArrayList<>();
            for (int layer = 0; layer < model.layers().size(); layer++) {
                for (String p : List.of("q_proj", "v_proj", "down_proj")) {
                    expected.add(LoraAdapter.key(layer, p, "lora_A"));
                    expected.add(LoraAdapter.key(layer, p, "lora_B"));
                }
                for (String p : lora.targetModules()) {
                    config.add(LoraAdapter.key(layer, p, "lora_A"));
                    config.add(LoraAdapter.key(layer, p, "lora_B"));
                }
            }
            assertEquals(expected, adapter.paramsInModelOrder().stream().map(LoraAdapter.Param::name).toList());
            assertEquals(config, adapter.params().stream().map(LoraAdapter.Param::name).toList());
        }
    }
}
