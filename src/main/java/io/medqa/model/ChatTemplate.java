package io.medqa.model;

/**
 * Qwen3's chat template for one user turn in non-thinking mode (enable_thinking=False in
 * tokenizer_config.json's Jinja template): the assistant turn opens with an empty think block.
 */
public final class ChatTemplate {

    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";

    private ChatTemplate() {}

    /** The prompt up to where the assistant's answer begins. */
    public static String userTurn(String message) {
        return IM_START + "user\n" + message + IM_END + "\n" + IM_START + "assistant\n<think>\n\n</think>\n\n";
    }
}
