package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --attention on the commands that build a model: each kernel runs, a wrong name is a usage error. */
class AttentionOptionTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void benchRunsEitherKernelAndReportsIt() throws Exception {
        for (String kernel : new String[] {"eager", "sdpa"}) {
            CliTest.Run r = CliTest.run("bench", "--shape", "tiny", "--steps", "1", "--warmup", "0", "--micro-batch", "2",
                    "--seq-len", "16", "--device", "cpu", "--attention", kernel, "--json");
            assertEquals(0, r.code(), r.err());
            JsonNode j = JSON.readTree(r.out());
            assertEquals(kernel, j.get("attention").asText());
            assertEquals(Math.log(512), j.get("losses").get(0).asDouble(), 0.3);
        }
        CliTest.Run bad = CliTest.run("bench", "--shape", "tiny", "--device", "cpu", "--attention", "flash");
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("--attention: attention \"flash\" is not one of eager, sdpa"), bad.err());
    }

    @Test
    void generateGivesTheSameIdsWithEitherKernel() throws Exception {
        Path model = TinyQwen3.write(tmp.resolve("m"), TinyQwen3.Spec.gqa(), "F32", 1);
        String[] ids = new String[2];
        String[] kernels = {"eager", "sdpa"};
        for (int i = 0; i < 2; i++) {
            CliTest.Run r = CliTest.run("generate", "--model", model.toString(), "--prompt-ids", "257,72,101,108,108",
                    "--max-new-tokens", "8", "--device", "cpu", "--attention", kernels[i], "--json");
            assertEquals(0, r.code(), r.err());
            ids[i] = JSON.readTree(r.out()).get("ids").toString();
        }
        assertEquals(ids[0], ids[1]);
        CliTest.Run bad = CliTest.run("generate", "--model", model.toString(), "--prompt-ids", "1", "--attention", "x");
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("--attention"), bad.err());
    }
}
