package io.medqa.model;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.TorchScriptArchive;

/**
 * Causal {@code torch.scaled_dot_product_attention} through a TorchScript module, since DJL 0.35.1 has
 * no such op. The module's archive is made here (see {@link TorchScriptArchive}) and libtorch compiles
 * its one-line forward when loading it, straight from memory: no file, no Python.
 *
 * <p>The module runs through {@link IValueUtils#forward(PtSymbolBlock, NDList, boolean)} with
 * {@code isTrain} true, which calls the method without DJL's inference-mode guard: autograd records
 * it as it records any other op (gradients flow to q, k and v) and the result is an ordinary tensor.
 * With {@code isTrain} false the result would be an inference tensor, which autograd refuses to save.
 * The result belongs to q's manager, as an op's result belongs to its first operand's, and is
 * registered with the current NDScope like any other array.
 */
final class Sdpa implements AutoCloseable {

    private final PtSymbolBlock block;
    private final boolean gqa;

    private Sdpa(PtSymbolBlock block, boolean gqa) {
        this.block = block;
        this.gqa = gqa;
    }

    /**
     * Loads the module on {@code manager}'s device; it is freed with {@code manager} or by
     * {@link #close()}.
     *
     * <p>Grouped kv heads: on a GPU, SDPA shares them itself ({@code enable_gqa}, libtorch 2.5+; CUDA's
     * flash kernel takes it, as transformers passes it there); should libtorch refuse the argument, each
     * kv head is repeated instead. On the CPU they are always repeated for their query heads first:
     * libtorch's CPU flash kernel wants as many kv heads as query heads and sends {@code enable_gqa} to
     * the unfused math path, which measured 1.5-3x slower per training step than repeating
     * (docs/benchmarks.md).
     *
     * @param groups query heads per kv head
     */
    static Sdpa load(NDManager manager, int headDim, int groups) {
        if (groups == 1 || !manager.getDevice().isGpu()) {
            return loadRepeatingKvHeads(manager, headDim, groups);
        }
        try {
            return loadSharingKvHeads(manager, headDim, groups);
        } catch (MedqaException refused) {
            org.slf4j.LoggerFactory.getLogger(Sdpa.class).debug("enable_gqa refused, repeating kv heads: {}",
                    refused.getMessage());
            return loadRepeatingKvHeads(manager, headDim, groups);
        }
    }

    /** The module with kv heads shared by {@code enable_gqa}. */
    static Sdpa loadSharingKvHeads(NDManager manager, int headDim, int groups) {
        return new Sdpa(loadModule(manager, source(headDim, groups, true)), true);
    }

    /** The module with kv heads repeated in its source rather than shared by {@code enable_gqa}. */
    static Sdpa loadRepeatingKvHeads(NDManager manager, int headDim, int groups) {
        return new Sdpa(loadModule(manager, source(headDim, groups, false)), false);
    }

    /** True when kv heads are shared by SDPA itself rather than repeated before the call. */
    boolean sharesKvHeads() {
        return gqa;
    }

    /**
     * @param q (batch, heads, tokens, head_dim)
     * @param k (batch, kv_heads, tokens, head_dim), the same positions as q, starting at 0
     * @param v like k
     * @return (batch, heads, tokens, head_dim): each query sees the keys at or before its position
     */
    NDArray causal(NDArray q, NDArray k, NDArray v) {
        return IValueUtils.forward(block, new NDList(q, k, v), true).singletonOrThrow();
    }

    /**
     * TorchScript's serialized form of the class (as {@code torch.jit.save} writes it under code/):
     * scale head_dim^-0.5, as eager; no dropout; {@code is_causal} masks key j > query i.
     */
    static String source(int headDim, int groups, boolean enableGqa) {
        String scale = Double.toString(1.0 / Math.sqrt(headDim));
        String kv = enableGqa || groups == 1
                ? ""
                // query head h reads kv head h / groups, as repeat_kv in transformers
                : "    k = torch.repeat_interleave(k, " + groups + ", 1)\n"
                        + "    v = torch.repeat_interleave(v, " + groups + ", 1)\n";
        String gqa = enableGqa && groups > 1 ? ", enable_gqa=True" : "";
        return "class Sdpa(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  def forward(self: __torch__.Sdpa,\n"
                + "    q: Tensor,\n"
                + "    k: Tensor,\n"
                + "    v: Tensor) -> Tensor:\n"
                + kv
                + "    return torch.scaled_dot_product_attention(q, k, v, None, 0., True, scale=" + scale + gqa + ")\n";
    }

    private static PtSymbolBlock loadModule(NDManager manager, String source) {
        return load(manager, TorchScriptArchive.module("sdpa", "Sdpa", source));
    }

    /** Loads a TorchScript archive from memory onto {@code manager}'s device. */
    static PtSymbolBlock load(NDManager manager, byte[] archive) {
        try {
            return ScriptModules.load(manager, archive);
        } catch (EngineException e) {
            throw new MedqaException(ExitCodes.UNAVAILABLE, "cannot load the TorchScript module for attention sdpa: "
                    + ScriptModules.reason(e.getMessage()) + " (attention eager needs no module)", e);
        }
    }

    @Override
    public void close() {
        block.close();
    }
}
