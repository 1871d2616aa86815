package io.medqa.model;

import ai.djl.Device;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.TorchScriptArchive;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Single libtorch ops that DJL 0.35.1 does not expose, or exposes only without autograd, each called
 * through a TorchScript module whose forward is that one op:
 * <ul>
 *   <li>{@link #cast}: {@code x.to(dtype)}, differentiable. DJL's {@code toType} runs under a
 *       NoGradGuard, so a cast in the forward pass would cut every gradient behind it.</li>
 *   <li>{@link #silu}: {@code torch.nn.functional.silu}, transformers' {@code act_fn} for Qwen3: one kernel
 *       forward and one backward, where {@code x * sigmoid(x)} is two and four, and in fp16 it rounds
 *       once where the product rounds twice.</li>
 *   <li>{@link #rsqrt}: {@code torch.rsqrt}, as transformers' RMSNorm multiplies by it.</li>
 * </ul>
 *
 * <p>One op per module, on purpose: TorchScript's graph executor replaces a graph of several ops
 * whose inputs require gradients by a differentiable graph with its own symbolic backward formulas
 * and, on CUDA, fuses its elementwise ops; both change the rounding against eager PyTorch, which
 * transformers runs. A graph of one op runs that op as eager code would, with its eager backward.
 *
 * <p>The modules hold no tensors, so one instance per op serves every device and thread (a
 * TorchScript method may be called from several threads at once). They are loaded on first use into a
 * manager of their own that lives as long as the process. Results belong to the input's manager, as an
 * op's result does, and run with autograd recording ({@code isTrain} true, as {@link Sdpa}).
 */
public final class ScriptOps {

    private static final Map<String, PtSymbolBlock> MODULES = new ConcurrentHashMap<>();
    private static volatile NDManager owner;

    private ScriptOps() {}

    /** {@code x} as {@code type} with autograd recording the cast; {@code x} itself when it already is. */
    public static NDArray cast(NDArray x, DataType type) {
        if (x.getDataType() == type) {
            return x;
        }
        int index = scalarType(type) - FIRST_CAST;
        return call(CAST_NAMES[index], CAST_EXPRESSIONS[index], x);
    }

    // Module name and forward of the cast to each ScalarType from FLOAT16 (5) on, made once: a 1.7B
    // training step casts about 450 times.
    private static final int FIRST_CAST = 5;
    private static final String[] CAST_NAMES = {"To5", "To6", "To7"};
    private static final String[] CAST_EXPRESSIONS = {"torch.to(x, 5)", "torch.to(x, 6)", "torch.to(x, 7)"};

    /** x * sigmoid(x), as libtorch's one silu kernel computes it. */
    public static NDArray silu(NDArray x) {
        return call("Silu", "torch.silu(x)", x);
    }

    /** 1 / sqrt(x), as libtorch's rsqrt kernel computes it. */
    public static NDArray rsqrt(NDArray x) {
        return call("Rsqrt", "torch.rsqrt(x)", x);
    }

    /** libtorch's ScalarType number of {@code type}, as TorchScript's serialized code writes a dtype. */
    static int scalarType(DataType type) {
        return switch (type) {
            case FLOAT16 -> 5;
            case FLOAT32 -> 6;
            case FLOAT64 -> 7;
            // DJL 0.35.1 reads a bf16 tensor's type as unknown: medqa computes in fp16 or fp32 only
            default -> throw new IllegalArgumentException("no differentiable cast to " + type);
        };
    }

    private static NDArray call(String name, String expression, NDArray x) {
        PtSymbolBlock block = MODULES.computeIfAbsent(name, n -> load(n, expression));
        return IValueUtils.forward(block, new NDList(x), true).singletonOrThrow();
    }

    /** The TorchScript class (as {@code torch.jit.save} writes it under code/) whose forward returns {@code expression} of x. */
    static String source(String name, String expression) {
        return "class " + name + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: __torch__." + name + ",\n"
                + "    x: Tensor) -> Tensor:\n"
                + "    return " + expression + "\n";
    }

    private static PtSymbolBlock load(String name, String expression) {
        try {
            return ScriptModules.load(owner(), TorchScriptArchive.module(name.toLowerCase(), name, source(name, expression)));
        } catch (EngineException e) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, "cannot load the TorchScript module for "
                    + expression + ": " + ScriptModules.reason(e.getMessage()), e);
        }
    }

    private static NDManager owner() {
        NDManager m = owner;
        if (m == null) {
            synchronized (ScriptOps.class) {
                m = owner;
                if (m == null) {
                    // Never closed: the modules serve every model for the life of the process.
                    m = Devices.engine().newBaseManager(Device.cpu());
                    owner = m;
                }
            }
        }
        return m;
    }
}
