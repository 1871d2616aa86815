package io.medqa.model;

import io.medqa.model.TinyQwen3;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class QwenTokenizerTest {

    @TempDir
    Path tmp;

    @Test
    void specialTokensInTextAreSingleIdsAndConfigNamesEosAndPad() throws Exception {
        TinyQwen3.writeTokenizer(tmp);
        try (QwenTokenizer t = QwenTokenizer.load(tmp)) {
            assertArrayEquals(new int[] {TinyQwen3.IM_START, 'u', 's', 'e', 'r', '\n', 'A', TinyQwen3.IM_END},
                    t.encode("<|im_start|>user\nA<|im_end|>"));
            assertEquals(TinyQwen3.IM_END, t.eosId());
            assertEquals(TinyQwen3.ENDOFTEXT, t.padId());
            assertEquals("héllo wörld", t.decode(t.encode("héllo wörld"), true));
        }
    }

    @Test
    void longTextsAreNotTruncated() throws Exception {
        TinyQwen3.writeTokenizer(tmp);
        try (QwenTokenizer t = QwenTokenizer.load(tmp)) {
            assertEquals(3000, t.encode("ab".repeat(1500)).length);
        }
    }

    @Test
    void eosTokenGivenAsAnObjectIsRead() throws Exception {
        TinyQwen3.writeTokenizer(tmp);
        Files.writeString(tmp.resolve("tokenizer_config.json"),
                "{\"eos_token\": {\"content\": \"<|endoftext|>\"}, \"pad_token\": null}");
        try (QwenTokenizer t = QwenTokenizer.load(tmp)) {
            assertEquals(TinyQwen3.ENDOFTEXT, t.eosId());
        }
    }
}
