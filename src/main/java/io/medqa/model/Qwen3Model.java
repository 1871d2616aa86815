package io.medqa.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;

import java.nio.file.Path;
import java.util.List;

/**
 * Qwen3 as in transformers' {@code models/qwen3/modeling_qwen3.py}, written out on DJL NDArrays.
 *
 * <p>Per layer: x += o_proj(attn(input_layernorm(x))); x += down(silu(gate(h)) * up(h)) with
 * h = post_attention_layernorm(x). In attention, q_norm/k_norm (RMSNorm over head_dim) come before
 * RoPE (half-split convention), kv heads are shared by groups of query heads (GQA), the scale is
 * head_dim^-0.5 and the softmax runs in fp32. RMSNorm always computes in fp32. With
 * {@link Attention#SDPA} the scores, mask, softmax and product with v of a sequence that starts at
 * position 0 are one call to PyTorch's scaled_dot_product_attention ({@link Sdpa}).
 *
 * <p>The model owns its weights through one manager. Activations belong to the manager of the input
 * ids; callers wrap a forward in an {@link ai.djl.ndarray.NDScope} so every intermediate is freed.
 */
public final class Qwen3Model implements AutoCloseable {

    private final Qwen3Config config;
    private final NDManager manager;
    private final DataType dtype;
    private final NDArray embedTokens;   // (vocab, hidden)
    private final List<Qwen3Layer> layers;
    private final NDArray norm;          // (hidden)
    private final NDArray lmHead;        // (vocab, hidden); embed_tokens itself when tied
    private final Rope rope;
    private final Masks masks;
    // 0-d constants owned by libtorch, made once: autograd saves the attention scale for the backward
    // pass, and a scalar made per op would cost a host-to-device copy per layer on a GPU (see Tensors).
    private final NDArray attentionScale;
    private final NDArray rmsEps;
    // Attention kernel; sdpa is non-null when it is chosen (loaded once, freed with the manager).
    private volatile Attention attentionImplementation = Attention.EAGER;
    private volatile Sdpa sdpa;

    private Qwen3Model(Qwen3Config config, NDManager manager, DataType dtype, NDArray embedTokens,
                       List<Qwen3Layer> layers, NDArray norm, NDArray lmHead) {
        this.config = config;
        this.manager = manager;
        this.dtype = dtype;
        this.embedTokens = embedTokens;
        this.layers = layers;
        this.norm = norm;
        this.lmHead = lmHead;
        this.rope = new Rope(manager, config.headDim(), config.ropeTheta());
        this.masks = new Masks(manager);
        this.attentionScale = Tensors.constant(manager, 1.0 / Math.sqrt(config.headDim()));
        this.rmsEps = Tensors.constant(manager, config.rmsNormEps());
    }

    /**
     * Loads config.json and the safetensors weights of a Hugging Face folder onto {@code device},
     * converted to {@code dtype} (FLOAT32 or FLOAT16).
     */
    public static Qwen3Model load(Path dir, Device device, DataType dtype) {
        Qwen3Config c = Qwen3Config.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            return build(c, device, dtype, ckpt::load);
        }
    }

    /**
     * A model of shape {@code c} with random weights made on the device (no file, no host copy), as
     * transformers initialises one: projections and embeddings N(0, 0.02), norms 1. For benchmarks:
     * a 1.7B model in fp16 is made in seconds on a GPU. Draws from the engine's generator after
     * seeding it with {@code seed}.
     */
    public static Qwen3Model random(Qwen3Config c, Device device, DataType dtype, long seed) {
        Devices.engine().setRandomSeed((int) seed);
        return build(c, device, dtype, (m, name, type, shape) -> name.endsWith("norm.weight")
                ? m.ones(new Shape(shape), type)
                : m.randomNormal(0f, 0.02f, new Shape(shape), type));
    }

    /** Where {@link #build} takes each tensor from, by Hugging Face name and expected shape. */
    @FunctionalInterface
    interface WeightSource {
        NDArray load(NDManager manager, String name, DataType dtype, long... shape);
    }

    private static Qwen3Model build(Qwen3Config c, Device device, DataType dtype, WeightSource src) {
        NDManager manager = Devices.engine().newBaseManager(device);
        try {
            long hidden = c.hiddenSize();
            long q = (long) c.numAttentionHeads() * c.headDim();
            long kv = (long) c.numKeyValueHeads() * c.headDim();
            long inter = c.intermediateSize();
            NDArray embed = src.load(manager, "model.embed_tokens.weight", dtype, c.vocabSize(), hidden);
            Qwen3Layer[] layers = new Qwen3Layer[c.numHiddenLayers()];
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                NDArray[] projections = {
                    src.load(manager, p + "self_attn.q_proj.weight", dtype, q, hidden),
                    src.load(manager, p + "self_attn.k_proj.weight", dtype, kv, hidden),
                    src.load(manager, p + "self_attn.v_proj.weight", dtype, kv, hidden),
                    src.load(manager, p + "self_attn.o_proj.weight", dtype, hidden, q),
                    src.load(manager, p + "mlp.gate_proj.weight", dtype, inter, hidden),
                    src.load(manager, p + "mlp.up_proj.weight", dtype, inter, hidden),
                    src.load(manager, p + "mlp.down_proj.weight", dtype, hidden, inter),
                };
                layers[i] = new Qwen3Layer(
                        src.load(manager, p + "input_layernorm.weight", dtype, hidden),
                        src.load(manager, p + "post_attention_layernorm.weight", dtype, hidden),
                        src.load(manager, p + "self_attn.q_norm.weight", dtype, c.headDim()),
                        src.load(manager, p + "self_attn.k_norm.weight", dtype, c.headDim()),
                        projections);
            }
            NDArray norm = src.load(manager, "model.norm.weight", dtype, hidden);
            // Tied embeddings: the head is embed_tokens, even when a copy of lm_head is stored (Qwen3-1.7B).
            NDArray head = c.tieWordEmbeddings()
                    ? embed
                    : src.load(manager, "lm_head.weight", dtype, c.vocabSize(), hidden);
            return new Qwen3Model(c, manager, dtype, embed, List.of(layers), norm, head);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    public Qwen3Config config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    public DataType dtype() {
        return dtype;
    }

    public Device device() {
        return manager.getDevice();
    }

    public List<Qwen3Layer> layers() {
        return layers;
    }

    /** The token embedding, (vocab, hidden), for tests that recompute the forward pass. */
    NDArray embedTokens() {
        return embedTokens;
    }

    /** The final norm's weight, (hidden). */
    NDArray finalNorm() {
        return norm;
    }

    /**
     * How attention is computed from now on; sdpa loads its TorchScript module the first time. A model
     * computes eager until this is called (the commands call it with model.attention or --attention).
     */
    public synchronized void setAttention(Attention implementation) {
        if (implementation == Attention.SDPA && sdpa == null) {
            sdpa = Sdpa.load(manager, config.headDim(), config.numKeyValueGroups());
        }
        attentionImplementation = implementation;
    }

    public Attention attentionImplementation() {
        return attentionImplementation;
    }

    /**
     * How grouped kv heads reach attention over a whole sequence: "shared" (sdpa's {@code enable_gqa}:
     * on a GPU) or "repeated" (each kv head repeated for its query heads first: sdpa on the CPU, for
     * libtorch's flash kernel, and eager, as transformers' eager does); "none" when there are as many kv
     * heads as query heads. Kernels round differently, so a comparison with transformers runs its sdpa
     * the same way (bench/hf_train_parity.py).
     */
    public String kvHeads() {
        if (config.numKeyValueGroups() == 1) {
            return "none";
        }
        return attentionImplementation == Attention.SDPA && sdpa.sharesKvHeads() ? "shared" : "repeated";
    }

    /**
     * The decoder stack, up to and including the final norm.
     *
     * @param inputIds (batch, tokens) int64 on the model's device; rows are right-padded, so the causal
     *     mask alone keeps real tokens from seeing padding
     * @param cache null for a whole sequence; otherwise positions continue from {@code cache.length()}
     *     and this step's keys and values are appended
     * @return (batch, tokens, hidden) in the compute dtype
     */
    public NDArray forward(NDArray inputIds, KvCache cache, boolean training) {
        long batch = inputIds.getShape().get(0);
        long tokens = inputIds.getShape().get(1);
        int start = cache == null ? 0 : cache.length();
        NDManager m = inputIds.getManager();
        NDArray[] cosSin = rope.cosSin(m, start, (int) tokens, dtype); // each (tokens, head_dim)
        // SDPA's is_causal is the mask of a sequence that starts at 0; decoding steps after it stay eager.
        Sdpa fused = attentionImplementation == Attention.SDPA && start == 0 ? sdpa : null;
        NDArray mask = tokens <= 1 || fused != null ? null
                : start == 0 ? masks.square(m, (int) tokens) : causalMask(m, start, (int) tokens);

        NDArray x = inputIds.getNDArrayInternal()
                .embedding(inputIds, embedTokens, SparseFormat.DENSE).singletonOrThrow();
        for (int i = 0; i < layers.size(); i++) {
            Qwen3Layer layer = layers.get(i);
            NDArray h = rmsNorm(x, layer.inputLayernorm);
            x = x.add(attention(layer, i, h, batch, tokens, cosSin, mask, fused, cache, training));
            h = rmsNorm(x, layer.postAttentionLayernorm);
            NDArray gate = layer.gateProj.forward(h, training);
            NDArray up = layer.upProj.forward(h, training);
            x = x.add(layer.downProj.forward(ScriptOps.silu(gate).mul(up), training));
        }
        if (cache != null) {
            cache.advance((int) tokens);
        }
        return rmsNorm(x, norm);
    }

    /** hidden (..., hidden) -> logits (..., vocab) in the compute dtype. */
    public NDArray logits(NDArray hidden) {
        return Projection.linear(hidden, lmHead);
    }

    /** Parameters of the base model; a tied head is counted once. */
    public long parameterCount() {
        long n = embedTokens.size() + norm.size() + (lmHead == embedTokens ? 0 : lmHead.size());
        for (Qwen3Layer layer : layers) {
            n += layer.inputLayernorm.size() + layer.postAttentionLayernorm.size() + layer.qNorm.size()
                    + layer.kNorm.size();
            for (String p : Qwen3Layer.PROJECTIONS) {
                n += layer.projection(p).weight().size();
            }
        }
        return n;
    }

    /** The LM head weight, (vocab, hidden), for callers that select rows or positions first. */
    public NDArray lmHead() {
        return lmHead;
    }

    private NDArray attention(Qwen3Layer layer, int index, NDArray h, long batch, long tokens,
                              NDArray[] cosSin, NDArray mask, Sdpa fused, KvCache cache, boolean training) {
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int groups = config.numKeyValueGroups();
        int d = config.headDim();
        // (batch, tokens, heads, head_dim) -> norm over head_dim -> (batch, heads, tokens, head_dim)
        NDArray q = rmsNorm(layer.qProj.forward(h, training).reshape(batch, tokens, heads, d), layer.qNorm)
                .transpose(0, 2, 1, 3);
        NDArray k = rmsNorm(layer.kProj.forward(h, training).reshape(batch, tokens, kvHeads, d), layer.kNorm)
                .transpose(0, 2, 1, 3);
        NDArray v = layer.vProj.forward(h, training).reshape(batch, tokens, kvHeads, d).transpose(0, 2, 1, 3);
        q = Rope.apply(q, cosSin);
        k = Rope.apply(k, cosSin);
        if (cache != null) {
            NDArray[] kv = cache.append(index, k, v);
            k = kv[0];
            v = kv[1];
        }
        if (fused != null) {
            NDArray out = fused.causal(q, k, v) // (batch, heads, tokens, head_dim)
                    .transpose(0, 2, 1, 3)
                    .reshape(batch, tokens, (long) heads * d);
            return layer.oProj.forward(out, training);
        }
        NDArray out;
        if (cache == null) {
            // A whole sequence, as transformers' eager_attention_forward: each kv head repeated for its
            // query heads (repeat_kv) and 4-D products, (batch, heads, tokens, head_dim). Grouping the
            // query heads against their kv head instead (below) saves the copy, but libtorch then folds
            // the group into the product's rows, which rounds differently.
            NDArray kr = groups > 1 ? k.repeat(1, groups) : k;
            NDArray vr = groups > 1 ? v.repeat(1, groups) : v;
            NDArray probs = softmaxOfScores(q.matMul(kr.transpose(0, 1, 3, 2)).mul(attentionScale), mask);
            out = probs.matMul(vr).transpose(0, 2, 1, 3).reshape(batch, tokens, (long) heads * d);
        } else {
            // Decoding: the cache's kv heads are not copied per step; query heads grouped as (batch,
            // kv_heads, groups, tokens, head_dim) broadcast against (batch, kv_heads, 1, keys, head_dim).
            NDArray q5 = q.reshape(batch, kvHeads, groups, tokens, d);
            NDArray k5 = k.expandDims(2);
            NDArray v5 = v.expandDims(2);
            NDArray probs = softmaxOfScores(q5.matMul(k5.transpose(0, 1, 2, 4, 3)).mul(attentionScale), mask);
            out = probs.matMul(v5) // (batch, kv_heads, groups, tokens, head_dim)
                    .reshape(batch, heads, tokens, d)
                    .transpose(0, 2, 1, 3)
                    .reshape(batch, tokens, (long) heads * d);
        }
        return layer.oProj.forward(out, training);
    }

    /**
     * Attention probabilities from scaled scores: the mask added and softmax taken in fp32, the result
     * cast back to the compute dtype, as softmax(scores + mask, dtype=float32).to(dtype) in transformers
     * (its fp16 mask of finfo.min and this fp32 -inf both give exactly 0 after the exponential).
     */
    private NDArray softmaxOfScores(NDArray scores, NDArray mask) {
        NDArray scores32 = Casts.atLeastFp32(scores);
        if (mask != null) {
            scores32 = scores32.add(mask);
        }
        return Casts.to(scores32.softmax(-1), dtype);
    }

    /**
     * RMSNorm in fp32, cast back to the input dtype, then scaled by the weight, op for op as
     * transformers' Qwen3RMSNorm: x * rsqrt(mean(x^2) + eps), which rounds differently from
     * x / sqrt(mean(x^2) + eps).
     */
    NDArray rmsNorm(NDArray x, NDArray weight) {
        NDArray x32 = Casts.atLeastFp32(x);
        NDArray variance = x32.square().mean(new int[] {-1}, true);
        NDArray normed = x32.mul(ScriptOps.rsqrt(variance.add(rmsEps)));
        return Casts.to(normed, x.getDataType()).mul(weight);
    }

    /** (tokens, start + tokens): 0 where query start+i may see key j (j <= start+i), -inf elsewhere. */
    private static NDArray causalMask(NDManager m, int start, int tokens) {
        int keys = start + tokens;
        float[] mask = new float[tokens * keys];
        for (int i = 0; i < tokens; i++) {
            for (int j = start + i + 1; j < keys; j++) {
                mask[i * keys + j] = Float.NEGATIVE_INFINITY;
            }
        }
        return Tensors.fromHost(m, mask, new Shape(tokens, keys));
    }

    @Override
    public void close() {
        manager.close();
    }

    /**
     * Causal masks for sequences starting at position 0 (training, scoring, prefill): one square table
     * on the device, grown on demand and sliced, so a training step builds and uploads no mask.
     */
    static final class Masks {
        private final NDManager manager;
        private NDArray table; // (size, size) fp32: 0 on and below the diagonal, -inf above
        private int size;

        Masks(NDManager manager) {
            this.manager = manager;
        }

        synchronized NDArray square(NDManager m, int tokens) {
            if (tokens > size) {
                if (table != null) {
                    table.close();
                }
                size = Math.max(tokens, Math.max(256, size * 2));
                table = causalMask(manager, 0, size); // owned by libtorch, so live slices survive a regrowth
                // The table outlives the forward (and its NDScope) that first needed it.
                ai.djl.ndarray.NDScope.unregister(table);
            }
            return table.get(m, new NDIndex(":{}, :{}", tokens, tokens));
        }
    }

    /** Rotary position embeddings, half-split convention, cos/sin tables grown on demand. */
    static final class Rope {
        private final NDManager manager;
        private final int dim;
        private final double theta;
        private NDArray cos; // (positions, head_dim) fp32
        private NDArray sin;
        private int positions;

        Rope(NDManager manager, int dim, double theta) {
            this.manager = manager;
            this.dim = dim;
            this.theta = theta;
        }

        /** cos and sin rows for positions [start, start + tokens), cast to the compute dtype. */
        synchronized NDArray[] cosSin(NDManager m, int start, int tokens, DataType dtype) {
            if (start + tokens > positions) {
                grow(Math.max(start + tokens, Math.max(256, positions * 2)));
            }
            NDIndex rows = new NDIndex("{}:{}", start, start + tokens);
            return new NDArray[] {
                cos.get(m, rows).toType(dtype, false), sin.get(m, rows).toType(dtype, false)
            };
        }

        /**
         * The tables of cos/sin of cat(angles, angles), angle = position * inv_freq, in float32 and with
         * libtorch's own kernels, op for op as transformers' Qwen3RotaryEmbedding: inv_freq =
         * 1 / theta^(arange(0, dim, 2) / dim) made on the CPU (as transformers makes it when the model is
         * built), the angles, cos and sin on the model's device. Java's Math.pow and Math.cos round
         * differently from libtorch's vectorized pow and cos in the last bit of some entries, and those
         * bits reach the logits.
         */
        private void grow(int n) {
            int half = dim / 2;
            float[] exponents = new float[half];
            for (int i = 0; i < half; i++) {
                exponents[i] = (float) (2 * i) / dim; // int64 arange as float, divided by dim in float
            }
            float[] position = new float[n];
            for (int p = 0; p < n; p++) {
                position[p] = p;
            }
            NDArray newCos;
            NDArray newSin;
            try (NDManager cpu = Devices.engine().newBaseManager(Device.cpu());
                 NDManager work = manager.newSubManager()) {
                // 1 / (theta ** e): the pow of a 0-d base, then a division, as Python's 1.0 / (base ** t)
                NDArray invFreq = Tensors.scalar(cpu, 1.0)
                        .div(Tensors.scalar(cpu, theta).pow(Tensors.fromHost(cpu, exponents, new Shape(half))))
                        .toDevice(manager.getDevice(), true);
                invFreq.attach(work);
                NDArray angles = Tensors.fromHost(work, position, new Shape(n, 1)).mul(invFreq.reshape(1, half));
                NDArray emb = angles.concat(angles, 1);
                newCos = emb.cos();
                newSin = emb.sin();
                // Owned by libtorch (made by its ops): a slice handed to a forward keeps its storage alive
                // after a regrowth. The tables belong to the model's manager, not to this work.
                newCos.attach(manager);
                newSin.attach(manager);
            }
            if (cos != null) {
                cos.close();
                sin.close();
            }
            cos = newCos;
            sin = newSin;
            // The tables outlive the forward (and its NDScope) that first needed them.
            ai.djl.ndarray.NDScope.unregister(cos, sin);
            positions = n;
        }

        /** x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]). */
        static NDArray apply(NDArray x, NDArray[] cosSin) {
            NDList halves = x.split(2, x.getShape().dimension() - 1);
            NDArray rotated = NDArrays.concat(new NDList(halves.get(1).neg(), halves.get(0)), x.getShape().dimension() - 1);
            return x.mul(cosSin[0]).add(rotated.mul(cosSin[1]));
        }
    }
}
