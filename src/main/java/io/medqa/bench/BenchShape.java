package io.medqa.bench;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.model.Qwen3Config;

import java.util.List;

/**
 * Named model shapes for benchmarks with random weights: the config.json values of the released
 * Qwen/Qwen3-1.7B and Qwen/Qwen3-0.6B (see NOTES and the Hub), and a tiny shape for tests. The weights
 * do not matter for timing; the shapes do.
 */
public final class BenchShape {

    public static final List<String> NAMES = List.of("qwen3-1.7b", "qwen3-0.6b", "tiny");

    private static final List<Integer> IM_END = List.of(151645);

    private BenchShape() {}

    public static Qwen3Config of(String name) {
        return switch (name) {
            // vocab, hidden, intermediate, layers, heads, kv heads, head_dim, eps, theta, max positions, tied
            case "qwen3-1.7b" -> new Qwen3Config(151936, 2048, 6144, 28, 16, 8, 128, 1e-6, 1_000_000.0, 40960,
                    true, "bfloat16", IM_END);
            // hidden 1024 while heads * head_dim = 2048: q_proj is (2048, 1024)
            case "qwen3-0.6b" -> new Qwen3Config(151936, 1024, 3072, 28, 16, 8, 128, 1e-6, 1_000_000.0, 40960,
                    true, "bfloat16", IM_END);
            case "tiny" -> new Qwen3Config(512, 64, 128, 2, 4, 2, 16, 1e-6, 1_000_000.0, 4096, true, "float32",
                    List.of(2));
            default -> throw new MedqaException(ExitCodes.USAGE, "--shape \"" + name + "\" is not one of "
                    + String.join(", ", NAMES));
        };
    }
}
