package io.medqa.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json as transformers 4.x and 5.x write it: where RoPE's base is, and what is refused. */
class Qwen3ConfigTest {

    @TempDir
    Path dir;

    private Qwen3Config load(String rope) throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "qwen3", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                 "rms_norm_eps": 1e-6, "tie_word_embeddings": true %s}
                """.formatted(rope));
        return Qwen3Config.load(dir);
    }

    private MedqaException refused(String rope) {
        return assertThrows(MedqaException.class, () -> load(rope));
    }

    @Test
    void transformers4TopLevelTheta() throws IOException {
        assertEquals(1_000_000.0, load(", \"rope_theta\": 1000000, \"rope_scaling\": null").ropeTheta());
    }

    @Test
    void transformers5RopeParameters() throws IOException {
        assertEquals(1_000_000.0,
                load(", \"rope_parameters\": {\"rope_theta\": 1000000.0, \"rope_type\": \"default\"}").ropeTheta());
        // a default-type rope_scaling object, as some 4.x exports write it
        assertEquals(5e5, load(", \"rope_scaling\": {\"type\": \"default\", \"rope_theta\": 500000}").ropeTheta());
    }

    @Test
    void missingThetaIsTransformersDefault() throws IOException {
        assertEquals(10000.0, load("").ropeTheta());
    }

    @Test
    void scaledRopeIsRefused() {
        MedqaException e = refused(", \"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0, \"rope_theta\": 1e6}");
        assertEquals(ExitCodes.DATA, e.exitCode());
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("rope_type \"yarn\""), e.getMessage());
        e = refused(", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}");
        assertTrue(e.getMessage().contains("rope_scaling") && e.getMessage().contains("\"linear\""), e.getMessage());
    }

    @Test
    void disagreeingThetasAndBadValuesAreRefused() {
        MedqaException e = refused(", \"rope_theta\": 10000, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e6}");
        assertTrue(e.getMessage().contains("disagree"), e.getMessage());
        e = refused(", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": -1}");
        assertTrue(e.getMessage().contains("rope_parameters.rope_theta must be a positive number"), e.getMessage());
        e = refused(", \"rope_parameters\": 1000000");
        assertTrue(e.getMessage().contains("rope_parameters must be an object"), e.getMessage());
    }
}
