package io.medqa.config;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.model.Attention;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionConfigTest {

    @TempDir
    Path tmp;

    @Test
    void defaultsToTheModelsDefaultKernel() {
        TrainConfig c = ConfigLoader.load(null, List.of("model.path=m"));
        assertEquals(Attention.DEFAULT.id(), c.model().attention());
        assertTrue(ConfigLoader.toYaml(c).contains("attention: " + Attention.DEFAULT.id()));
    }

    @Test
    void eitherKernelIsReadFromTheFileOrSet() throws Exception {
        Path f = tmp.resolve("c.yaml");
        Files.writeString(f, "model:\n  path: m\n  attention: sdpa\n");
        assertEquals(Attention.SDPA, Attention.parse(ConfigLoader.load(f, List.of()).model().attention()));
        assertEquals("eager", ConfigLoader.load(f, List.of("model.attention=eager")).model().attention());
    }

    @Test
    void anUnknownKernelNamesTheKey() throws Exception {
        MedqaException set = assertThrows(MedqaException.class,
                () -> ConfigLoader.load(null, List.of("model.path=m", "model.attention=flash")));
        assertEquals(ExitCodes.USAGE, set.exitCode());
        assertTrue(set.getMessage().contains("--set model.attention: must be one of eager, sdpa, got \"flash\""),
                set.getMessage());
        Path f = tmp.resolve("bad.yaml");
        Files.writeString(f, "model:\n  path: m\n  attn_implementation: sdpa\n");
        MedqaException unknown = assertThrows(MedqaException.class, () -> ConfigLoader.load(f, List.of()));
        assertEquals(ExitCodes.DATA, unknown.exitCode());
        assertTrue(unknown.getMessage().contains("unknown key model.attn_implementation"), unknown.getMessage());
    }
}
