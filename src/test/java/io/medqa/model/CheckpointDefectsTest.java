package io.medqa.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.SafetensorsWriter;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each loading defect ends in one message naming the file, the tensor and what is wrong. */
class CheckpointDefectsTest {

    @TempDir
    Path tmp;

    static final TinyQwen3.Spec SPEC = TinyQwen3.Spec.gqa();

    private Path model() throws Exception {
        return TinyQwen3.write(tmp.resolve("m"), SPEC, "F32", 1);
    }

    private MedqaException loadFails(Path dir) {
        return assertThrows(MedqaException.class, () -> Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32).close());
    }

    private static void assertMessage(MedqaException e, int code, String... parts) {
        assertEquals(code, e.exitCode(), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should contain '" + part + "'");
        }
    }

    /** Rewrites model.safetensors with every tensor but {@code drop}, and {@code extra} if given. */
    private void rewriteWeights(Path dir, String drop, String extraName, long[] extraShape) {
        var weights = TinyQwen3.weights(SPEC);
        SafetensorsWriter w = new SafetensorsWriter();
        weights.forEach((name, values) -> {
            if (!name.equals(drop)) {
                w.add(name, "F32", TinyQwen3.shapeOf(SPEC, name), values);
            }
        });
        if (extraName != null) {
            long n = 1;
            for (long d : extraShape) {
                n *= d;
            }
            w.add(extraName, "F32", extraShape, new float[(int) n]);
        }
        w.write(dir.resolve("model.safetensors"));
    }

    @Test
    void missingConfigIsNamed() throws Exception {
        Path dir = model();
        Files.delete(dir.resolve("config.json"));
        assertMessage(loadFails(dir), ExitCodes.NO_INPUT, "config.json", "file not found");
    }

    @Test
    void otherModelTypesAreRefused() throws Exception {
        Path dir = model();
        Files.writeString(dir.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replace("\"qwen3\"", "\"llama\""));
        assertMessage(loadFails(dir), ExitCodes.DATA, "config.json", "model_type is \"llama\"", "Qwen3");
    }

    @Test
    void missingWeightsFileIsNamed() throws Exception {
        Path dir = model();
        Files.delete(dir.resolve("model.safetensors"));
        assertMessage(loadFails(dir), ExitCodes.NO_INPUT, "no model.safetensors");
    }

    @Test
    void missingShardIsNamedWithTheIndex() throws Exception {
        Path dir = TinyQwen3.write(tmp.resolve("s"), SPEC, "F32", 2);
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertMessage(loadFails(dir), ExitCodes.NO_INPUT, "model-00002-of-00002.safetensors", "file not found",
                "model.safetensors.index.json");
    }

    @Test
    void missingTensorIsNamed() throws Exception {
        Path dir = model();
        rewriteWeights(dir, "model.layers.1.mlp.up_proj.weight", null, null);
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "model.layers.1.mlp.up_proj.weight",
                "is missing");
    }

    @Test
    void wrongShapeIsNamed() throws Exception {
        Path dir = model();
        rewriteWeights(dir, "model.layers.0.self_attn.k_proj.weight",
                "model.layers.0.self_attn.k_proj.weight", new long[] {16, 32});
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "model.layers.0.self_attn.k_proj.weight",
                "has shape [16, 32], expected [32, 32]");
    }

    @Test
    void unexpectedDtypeIsNamed() throws Exception {
        Path dir = model();
        // A hand-built file whose norm weight is stored as I32.
        String header = "{\"model.norm.weight\":{\"dtype\":\"I32\",\"shape\":[32],\"data_offsets\":[0,128]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 128).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path odd = tmp.resolve("odd.safetensors");
        Files.write(odd, b.array());
        var e = assertThrows(MedqaException.class, () -> {
            try (var f = io.medqa.io.SafetensorsFile.open(odd)) {
                f.readFloats("model.norm.weight");
            }
        });
        assertMessage(e, ExitCodes.DATA, "odd.safetensors", "model.norm.weight", "unexpected dtype I32");
        // and through the loader, with the same file as the model's weights
        Files.copy(odd, dir.resolve("model.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "model.embed_tokens.weight", "is missing");
    }

    @Test
    void truncatedFileIsNamed() throws Exception {
        Path dir = model();
        Path weights = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.setLength(f.length() - 100);
        }
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "truncated file", "lm_head.weight");
    }

    @Test
    void badHeaderIsNamed() throws Exception {
        Path dir = model();
        Path weights = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        bytes[8] = 'X'; // the JSON header's opening brace
        Files.write(weights, bytes);
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "bad header");

        Files.write(weights, new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0, 0, 0, 0, '{', '}'});
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "bad header");

        Files.write(weights, new byte[] {1, 2, 3});
        assertMessage(loadFails(dir), ExitCodes.DATA, "model.safetensors", "truncated file");
    }

    @Test
    void tiedModelIgnoresAStoredLmHead() throws Exception {
        // Tied: lm_head.weight is stored but the head must be embed_tokens; a wrong-shaped lm_head
        // therefore loads fine.
        Path dir = model();
        rewriteWeights(dir, "lm_head.weight", "lm_head.weight", new long[] {3, 3});
        Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32).close();
    }

    @Test
    void tiedModelsHeadIsTheEmbeddingsWhateverIsStored() throws Exception {
        // The folder TinyQwen3 writes stores lm_head equal to the embeddings, as Qwen3-1.7B does; an
        // all-zero stored head of the right shape must change nothing.
        float[] stored = TinyQwen3.weights(SPEC).get("lm_head.weight");
        assertTrue(java.util.Arrays.equals(stored, TinyQwen3.weights(SPEC).get("model.embed_tokens.weight")));
        float[] want = lastLogits(model());
        Path zeroed = TinyQwen3.write(tmp.resolve("z"), SPEC, "F32", 1);
        rewriteWeights(zeroed, "lm_head.weight", "lm_head.weight", new long[] {SPEC.vocab(), SPEC.hidden()});
        float[] got = lastLogits(zeroed);
        assertTrue(java.util.Arrays.equals(want, got), "the stored head was used");
        assertTrue(java.util.Arrays.stream(new double[] {want[0], want[1]}).anyMatch(v -> v != 0), "logits are not all zero");
    }

    private static float[] lastLogits(Path dir) {
        try (Qwen3Model m = Qwen3Model.load(dir, Device.cpu(), DataType.FLOAT32);
             ai.djl.ndarray.NDManager sub = m.manager().newSubManager()) {
            var ids = Tensors.fromHost(sub, new long[] {1, 2, 3, 4, 5}, new ai.djl.ndarray.types.Shape(1, 5));
            return m.logits(m.forward(ids, null, false)).toFloatArray();
        }
    }
}
