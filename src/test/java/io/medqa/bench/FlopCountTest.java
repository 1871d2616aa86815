package io.medqa.bench;

import io.medqa.model.Qwen3Config;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FlopCountTest {

    private static final List<String> QKVO = List.of("q_proj", "k_proj", "v_proj", "o_proj");

    /**
     * The tiny shape (vocab 512, hidden 64, intermediate 128, 2 layers, 4 heads of 16, 2 kv heads), LoRA r 8 on
     * q/k/v/o, 4 rows of 64 tokens, by hand:
     * projections per layer q 64*64 + k 32*64 + v 32*64 + o 64*64 + 3 * 128*64 = 36,864, N = 73,728;
     * LoRA per layer 8*(64+64) + 8*(32+64) * 2 + 8*(64+64) = 3,584, N_lora = 7,168; head 512*64 = 32,768;
     * attention forward 4 * L * H * D * s^2 * rows = 4*2*4*16*64^2*4 = 8,388,608.
     */
    @Test
    void tinyTrainingStepMatchesAHandCount() {
        Qwen3Config c = BenchShape.of("tiny");
        assertEquals(36_864, FlopCount.projectionParamsPerLayer(c));
        assertEquals(3_584, FlopCount.loraParamsPerLayer(c, QKVO, 8));
        double expected = 4.0 * 73_728 * 256      // frozen projections: forward 2N + input gradients 2N, per token
                + 4.0 * 32_768 * 252              // the head at the 4 * 63 target positions
                + 6.0 * 7_168 * 256               // LoRA: forward, input and weight gradients
                + 3.0 * 8_388_608;                // attention: forward, backward twice that
        assertEquals(144_703_488.0, expected);
        assertEquals(expected, FlopCount.trainMicroBatch(c, QKVO, 8, 4, 64));
    }

    /** Scoring: a forward pass, the head at each row's last position only. */
    @Test
    void tinyScoringForwardMatchesAHandCount() {
        Qwen3Config c = BenchShape.of("tiny");
        double expected = 2.0 * 73_728 * 256 + 2.0 * 32_768 * 4 + 2.0 * 7_168 * 256 + 8_388_608;
        assertEquals(expected, FlopCount.forward(c, QKVO, 8, 4, 64, 4));
    }

    /** The recipe's adapter on Qwen3-1.7B has 3,211,264 trainable parameters (README), and its layers 1.41B. */
    @Test
    void qwen3SizesMatchThePublishedCounts() {
        Qwen3Config c = BenchShape.of("qwen3-1.7b");
        assertEquals(3_211_264, 28 * FlopCount.loraParamsPerLayer(c, QKVO, 8));
        // q 2048^2, k and v 1024*2048, o 2048^2, gate/up/down 6144*2048
        assertEquals(2L * 2048 * 2048 + 2L * 1024 * 2048 + 3L * 6144 * 2048, FlopCount.projectionParamsPerLayer(c));
        Qwen3Config small = BenchShape.of("qwen3-0.6b");
        assertEquals(2048, small.numAttentionHeads() * small.headDim()); // q_proj (2048, 1024) in Qwen3-0.6B
        assertEquals(1024, small.hiddenSize());
    }
}
