package io.medqa.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

/**
 * The PyTorch engine, the device a command computes on, and its compute dtype.
 *
 * <p>The engine finds libtorch in the pytorch-native-cpu jar, or where PYTORCH_LIBRARY_PATH points
 * (with PYTORCH_FLAVOR and PYTORCH_VERSION naming what is there): that is how a CUDA or ROCm build of
 * PyTorch is used. medqa always runs offline, so a missing library is an error, never a download.
 */
public final class Devices {

    private Devices() {}

    public static Engine engine() {
        System.setProperty("ai.djl.offline", "true");
        try {
            return Engine.getEngine("PyTorch");
        } catch (EngineException | IllegalArgumentException | UnsatisfiedLinkError e) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, "cannot start DJL's PyTorch engine: " + e.getMessage()
                    + " (check PYTORCH_LIBRARY_PATH, PYTORCH_FLAVOR and PYTORCH_VERSION)", e);
        }
    }

    /**
     * auto (a GPU when the engine sees one, else the CPU), cpu, gpu (GPU 0) or gpu:N.
     */
    public static Device resolve(String spec) {
        String s = spec.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("auto")) {
            return engine().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        }
        if (s.equals("cpu")) {
            return Device.cpu();
        }
        if (s.equals("gpu") || s.equals("cuda")) {
            return checkedGpu(0);
        }
        if (s.matches("(gpu|cuda):\\d+")) {
            return checkedGpu(Integer.parseInt(s.substring(s.indexOf(':') + 1)));
        }
        throw new MedqaException(ExitCodes.USAGE, "device \"" + spec + "\" is not one of auto, cpu, gpu, gpu:N");
    }

    /**
     * DJL counts GPUs through CUDA's runtime, so it reports none on AMD GPUs even when a ROCm libtorch
     * is loaded; a GPU the engine does not count is therefore probed with one tiny tensor. When that
     * fails (no GPU, a CPU libtorch, an index past the last GPU) the request is refused in one line,
     * instead of libtorch's page of text at the first real tensor.
     */
    private static Device checkedGpu(int id) {
        Engine engine = engine();
        int seen = engine.getGpuCount();
        Device gpu = Device.gpu(id);
        if (id < seen) {
            return gpu;
        }
        try (NDManager manager = engine.newBaseManager(gpu)) {
            manager.zeros(new Shape(1)).toFloatArray();
        } catch (RuntimeException e) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, "gpu:" + id + " requested but no GPU is usable: the engine "
                    + "counts " + seen + " CUDA GPU(s) and libtorch cannot place a tensor on gpu:" + id
                    + (seen == 0 ? " (a CPU build of libtorch? see the README's GPUs section)" : "") + "; use --device cpu", e);
        }
        org.slf4j.LoggerFactory.getLogger(Devices.class).warn(
                "gpu:{} requested and usable, though the engine counts {} CUDA GPU(s) (a ROCm GPU?)", id, seen);
        return gpu;
    }

    /** auto: fp32 on the CPU (fp16 GEMMs are several times slower there), fp16 on a GPU. */
    public static DataType computeType(String spec, Device device) {
        return switch (spec.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "auto" -> device.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
            case "fp32", "float32" -> DataType.FLOAT32;
            case "fp16", "float16" -> DataType.FLOAT16;
            case "bf16", "bfloat16" -> throw new MedqaException(ExitCodes.USAGE,
                    "dtype bf16 is not available: DJL 0.35.1 aborts the JVM on bfloat16 tensors; use fp16 or fp32");
            default -> throw new MedqaException(ExitCodes.USAGE, "dtype \"" + spec + "\" is not one of auto, fp32, fp16");
        };
    }
}
