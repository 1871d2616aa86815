package io.medqa.config;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLoaderTest {

    @TempDir
    Path tmp;

    private Path yaml(String text) {
        Path f = tmp.resolve("c.yaml");
        try {
            Files.writeString(f, text);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return f;
    }

    private static void fails(String expected, int code, Runnable r) {
        MedqaException e = assertThrows(MedqaException.class, r::run);
        assertEquals(code, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void theShippedConfigIsTheReferenceRecipe() {
        TrainConfig c = ConfigLoader.load(Path.of("configs/qwen3-lora.yaml"), List.of());
        assertEquals(2000, c.data().maxSamples());
        assertEquals(List.of("q_proj", "k_proj", "v_proj", "o_proj"), c.lora().targetModules());
        assertEquals("fp16", c.train().precision());
        assertEquals(4, c.train().microBatchSize());
        assertEquals(4, c.train().gradAccumSteps());
        assertEquals("cosine", c.train().scheduler());
        assertTrue(c.train().warmupRatio() > 0);
        assertEquals(2e-4, c.train().lr());
        assertEquals(1, c.train().epochs());
        // every key of the shipped file carries a comment
        try {
            for (String line : Files.readAllLines(Path.of("configs/qwen3-lora.yaml"))) {
                if (line.matches("\\s+\\w+: .*")) {
                    assertTrue(line.contains("#"), "uncommented key: " + line);
                }
            }
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void overridesApplyOverTheFileAndDefaults() throws Exception {
        Path f = yaml("model:\n  path: m\ntrain:\n  lr: 1e-3\n");
        TrainConfig c = ConfigLoader.load(f, List.of("train.lr=5e-5", "lora.target_modules=[q_proj, v_proj]",
                "data.cop_base=0", "device=cpu"));
        assertEquals(5e-5, c.train().lr());
        assertEquals(List.of("q_proj", "v_proj"), c.lora().targetModules());
        assertEquals("0", c.data().copBase());
        assertEquals("cpu", c.device());
        assertEquals(8, c.lora().r()); // default
        assertTrue(ConfigLoader.toYaml(c).contains("micro_batch_size: 4"));
    }

    @Test
    void unknownKeysAreRejectedWithTheirPath() throws Exception {
        fails("c.yaml: unknown key train.learning_rate", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("model:\n  path: m\ntrain:\n  learning_rate: 1\n"), List.of()));
        fails("c.yaml: unknown key lora.rank", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("lora:\n  rank: 4\n"), List.of()));
        fails("--set train.foo: unknown key train.foo", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "train.foo=1")));
        fails("expected KEY=VALUE", ExitCodes.USAGE, () -> ConfigLoader.load(null, List.of("train.lr")));
    }

    @Test
    void wrongTypesAndValuesNameTheKey() throws Exception {
        fails("c.yaml: key train.lr: expected a number, got \"fast\"", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("model:\n  path: m\ntrain:\n  lr: fast\n"), List.of()));
        fails("key train.micro_batch_size: expected an integer", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("model:\n  path: m\ntrain:\n  micro_batch_size: 2.5\n"), List.of()));
        fails("--set lora.target_modules: \"qkv\" is not one of", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "lora.target_modules=[qkv]")));
        fails("--set train.scheduler: must be one of cosine, linear, constant", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "train.scheduler=step")));
        fails("c.yaml: key train.scheduler must be one of cosine", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("train:\n  scheduler: step\n"), List.of("model.path=m")));
        fails("key model.path is required", ExitCodes.DATA, () -> ConfigLoader.load(null, List.of()));
        fails("c.yaml: key train must be a mapping", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("train: 3\n"), List.of()));
    }

    @Test
    void saveBestNeedsValidationAccuracy() {
        List<String> base = List.of("model.path=m", "data.train=t.jsonl", "train.save_best=true");
        fails("--set train.save_best: needs validation accuracy", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, base));
        List<String> noEval = new java.util.ArrayList<>(base);
        noEval.add("data.validation=v.jsonl");
        fails("train.save_best", ExitCodes.USAGE, () -> ConfigLoader.load(null, noEval));
        noEval.add("train.eval_steps=10");
        TrainConfig ok = ConfigLoader.load(null, noEval);
        assertTrue(ok.train().saveBest());
        assertTrue(ok.train().tensorboard(), "TensorBoard logging is on by default");
        fails("train.tensorboard: expected true or false", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "train.tensorboard=sometimes")));
    }

    @Test
    void aBadSetValueNamesTheSetAndIsAUsageErrorLikeAnUnknownSetKey() throws Exception {
        Path f = yaml("model:\n  path: m\ntrain:\n  lr: 1e-3\n");
        MedqaException bad = assertThrows(MedqaException.class, () -> ConfigLoader.load(f, List.of("train.lr=fast")));
        assertEquals("--set train.lr: expected a number, got \"fast\"", bad.getMessage());
        assertEquals(ExitCodes.USAGE, bad.exitCode());
        MedqaException unknown = assertThrows(MedqaException.class, () -> ConfigLoader.load(f, List.of("train.lrr=1")));
        assertTrue(unknown.getMessage().startsWith("--set train.lrr: unknown key train.lrr"), unknown.getMessage());
        assertEquals(ExitCodes.USAGE, unknown.exitCode());
        fails("--set train.micro_batch_size: expected an integer", ExitCodes.USAGE,
                () -> ConfigLoader.load(f, List.of("train.micro_batch_size=2.5")));
        fails("--set train.lr: must be > 0, got -1.0", ExitCodes.USAGE, () -> ConfigLoader.load(f, List.of("train.lr=-1")));
        fails("--set lora.target_modules: key lora.target_modules[0]", ExitCodes.USAGE,
                () -> ConfigLoader.load(f, List.of("lora.target_modules=[[q_proj]]")));
        fails("--set train.epochs: must be >= 1, got 0", ExitCodes.USAGE,
                () -> ConfigLoader.load(f, List.of("train.epochs=0", "train.lr=1e-4")));
        // the value in the file is still blamed on the file when --set touched something else
        fails("c.yaml: key train.lr must be > 0", ExitCodes.DATA,
                () -> ConfigLoader.load(yaml("model:\n  path: m\ntrain:\n  lr: 0\n"), List.of("train.epochs=2")));
    }

    @Test
    void integersOutOfRangeNameTheKey() throws Exception {
        fails("c.yaml: key train.max_steps: expected an integer from -2147483648 to 2147483647, got 99999999999",
                ExitCodes.DATA, () -> ConfigLoader.load(yaml("model:\n  path: m\ntrain:\n  max_steps: 99999999999\n"),
                        List.of()));
        fails("--set data.max_samples: expected an integer from", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "data.max_samples=99999999999")));
        fails("--set train.seed: expected an integer from -9223372036854775808", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "train.seed=99999999999999999999999")));
        fails("--set lora.r: expected an integer from", ExitCodes.USAGE,
                () -> ConfigLoader.load(null, List.of("model.path=m", "lora.r=4294967297")));
    }

    @Test
    void aByteOrderMarkIsToleratedAndOtherEncodingsAreRefused() throws Exception {
        Path bom = tmp.resolve("bom.yaml");
        Files.writeString(bom, "\uFEFFmodel:\n  path: m\ntrain:\n  lr: 3e-4\n");
        assertEquals(3e-4, ConfigLoader.load(bom, List.of()).train().lr());
        Path latin1 = tmp.resolve("latin1.yaml");
        Files.write(latin1, new byte[] {'m', 'o', 'd', 'e', 'l', ':', ' ', '{', 'p', 'a', 't', 'h', ':', ' ', (byte) 0xE9, '}', '\n'});
        fails("latin1.yaml: not valid UTF-8", ExitCodes.DATA, () -> ConfigLoader.load(latin1, List.of()));
        MedqaException yamlError = assertThrows(MedqaException.class,
                () -> ConfigLoader.load(yaml("model: [unclosed\n  path: x\n"), List.of()));
        assertTrue(yamlError.getMessage().startsWith(tmp.resolve("c.yaml") + ": not valid YAML: "), yamlError.getMessage());
        assertEquals(1, yamlError.getMessage().lines().count(), yamlError.getMessage());
    }
}
