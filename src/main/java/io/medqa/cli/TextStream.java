package io.medqa.cli;

import io.medqa.model.QwenTokenizer;

import java.io.PrintWriter;
import java.util.Arrays;

/**
 * Prints generated text as tokens arrive. Byte-level BPE tokens can split a UTF-8 character, so the
 * whole generation is re-decoded each time and only a stable new suffix is printed: text ending in
 * U+FFFD (an unfinished character) waits for the next token.
 */
final class TextStream {

    private final QwenTokenizer tokenizer;
    private final PrintWriter out;
    private int[] ids = new int[16];
    private int count;
    private int printed;

    TextStream(QwenTokenizer tokenizer, PrintWriter out) {
        this.tokenizer = tokenizer;
        this.out = out;
    }

    void accept(int id) {
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = id;
        String text = tokenizer.decode(Arrays.copyOf(ids, count), true);
        if (text.endsWith("\uFFFD") || text.length() <= printed) {
            return;
        }
        out.print(text.substring(printed));
        out.flush();
        printed = text.length();
    }
}
