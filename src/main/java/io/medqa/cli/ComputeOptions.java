package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.MedqaException;
import io.medqa.model.Attention;
import io.medqa.model.Devices;
import picocli.CommandLine.Option;

/** --device, --dtype and --attention, shared by every command that computes. */
public final class ComputeOptions {

    @Option(names = "--device", paramLabel = "auto|cpu|gpu|gpu:N",
            description = "Where to compute (default: auto, a GPU when the engine sees one). "
                    + "A CUDA or ROCm libtorch is used through PYTORCH_LIBRARY_PATH, PYTORCH_FLAVOR and "
                    + "PYTORCH_VERSION (see README).")
    String device;

    @Option(names = "--dtype", paramLabel = "auto|fp32|fp16", defaultValue = "auto",
            description = "Compute dtype (default: ${DEFAULT-VALUE}: fp32 on CPU, fp16 on GPU).")
    String dtype;

    @Option(names = "--attention", paramLabel = "eager|sdpa",
            description = "Attention kernel, as transformers' attn_implementation: eager (matmul, mask, softmax) or sdpa "
                    + "(PyTorch's fused scaled_dot_product_attention) (default: " + Attention.DEFAULT_NAME + ").")
    String attention;

    Device resolveDevice() {
        return resolveDevice("auto");
    }

    /** --device when given, else {@code fallback} (a config's device). */
    Device resolveDevice(String fallback) {
        return Devices.resolve(device != null ? device : fallback);
    }

    DataType resolveDtype(Device d) {
        return Devices.computeType(dtype, d);
    }

    Attention resolveAttention() {
        return resolveAttention(null);
    }

    /** --attention when given, else {@code fallback} (a config's model.attention), else the default. */
    Attention resolveAttention(String fallback) {
        if (attention == null) {
            return fallback != null ? Attention.parse(fallback) : Attention.DEFAULT;
        }
        try {
            return Attention.parse(attention);
        } catch (MedqaException e) {
            throw new MedqaException(e.exitCode(), "--attention: " + e.getMessage());
        }
    }
}
