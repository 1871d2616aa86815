package io.medqa.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.config.TrainConfig;
import io.medqa.io.AtomicFiles;
import io.medqa.io.SafetensorsWriter;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Qwen3Model;
import io.medqa.model.Tensors;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * LoRA matrices injected into a model's projections, under PEFT's tensor names
 * ({@code base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight}).
 */
public final class LoraAdapter implements AutoCloseable {

    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    public static final String CONFIG_FILE = "adapter_config.json";

    /** A trainable matrix and its PEFT name. */
    public record Param(String name, NDArray array) {}

    private final Qwen3Model model;
    private final NDManager manager;
    private final TrainConfig.Lora config;
    private final List<Param> params;
    private final List<Param> modelOrder;
    private final List<LoraProjection> projections;

    private LoraAdapter(Qwen3Model model, NDManager manager, TrainConfig.Lora config, List<Param> params,
                        List<LoraProjection> projections) {
        this.model = model;
        this.manager = manager;
        this.config = config;
        this.params = params;
        this.projections = projections;
        // PEFT's parameter order: layer by layer, projections in the model's order, A before B
        Map<String, Param> byName = new java.util.HashMap<>();
        params.forEach(p -> byName.put(p.name(), p));
        List<Param> ordered = new ArrayList<>(params.size());
        for (int i = 0; i < model.layers().size(); i++) {
            for (String projection : Qwen3Layer.PROJECTIONS) {
                for (String matrix : new String[] {"lora_A", "lora_B"}) {
                    Param p = byName.get(key(i, projection, matrix));
                    if (p != null) {
                        ordered.add(p);
                    }
                }
            }
        }
        this.modelOrder = List.copyOf(ordered);
    }

    public static String key(int layer, String projection, String matrix) {
        return "base_model.model.model.layers." + layer + "." + Qwen3Layer.modulePath(projection) + "." + matrix
                + ".weight";
    }

    /**
     * Wraps each target projection of every layer. A is drawn from PEFT's init, kaiming_uniform with
     * a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)), from a Java RNG seeded by {@code seed} (so the same
     * seed gives the same adapter on any device); B is zero, so the adapted model starts equal to the
     * base. {@code initial}, when given, supplies every matrix by PEFT name instead (resume, loading).
     */
    public static LoraAdapter inject(Qwen3Model model, TrainConfig.Lora config, long seed, Map<String, float[]> initial) {
        NDManager manager = model.manager().newSubManager();
        Random random = new Random(seed);
        List<Param> params = new ArrayList<>();
        List<LoraProjection> projections = new ArrayList<>();
        for (int i = 0; i < model.layers().size(); i++) {
            Qwen3Layer layer = model.layers().get(i);
            for (String target : config.targetModules()) {
                String aName = key(i, target, "lora_A");
                String bName = key(i, target, "lora_B");
                if (initial != null && !initial.containsKey(aName)) {
                    continue; // a loaded adapter may leave some layers alone (PEFT's layers_to_transform)
                }
                var base = layer.projection(target);
                Shape w = base.weight().getShape();
                int out = (int) w.get(0);
                int in = (int) w.get(1);
                float[] a;
                float[] b;
                if (initial != null) {
                    a = initial.get(aName);
                    b = initial.get(bName);
                } else {
                    a = new float[config.r() * in];
                    double bound = 1.0 / Math.sqrt(in);
                    for (int k = 0; k < a.length; k++) {
                        a[k] = (float) ((random.nextDouble() * 2 - 1) * bound);
                    }
                    b = new float[out * config.r()];
                }
                NDArray aArr = Tensors.fromHost(manager, a, new Shape(config.r(), in));
                NDArray bArr = Tensors.fromHost(manager, b, new Shape(out, config.r()));
                aArr.setRequiresGradient(true);
                bArr.setRequiresGradient(true);
                params.add(new Param(aName, aArr));
                params.add(new Param(bName, bArr));
                LoraProjection lora = new LoraProjection(base, aArr, bArr, Tensors.constant(manager, config.scale()),
                        config.dropout());
                layer.setProjection(target, lora);
                projections.add(lora);
            }
        }
        return new LoraAdapter(model, manager, config, List.copyOf(params), List.copyOf(projections));
    }

    /** Loads a PEFT adapter folder into the model, after {@link AdapterFiles}' checks. */
    public static LoraAdapter load(Qwen3Model model, Path dir) {
        AdapterFiles.Loaded loaded = AdapterFiles.read(dir, model);
        return inject(model, loaded.config(), 0, loaded.weights());
    }

    public List<Param> params() {
        return params;
    }

    /**
     * The same matrices in the order PEFT's model.parameters() yields them: by layer, then by the
     * projection's place in the layer (q, k, v, o, gate, up, down), A before B, whatever the order of
     * {@code target_modules}. The global gradient norm is summed in this order, as clip_grad_norm_ sums
     * the norms it is given; {@link #params()} keeps the config's order, which checkpoints index by.
     */
    public List<Param> paramsInModelOrder() {
        return modelOrder;
    }

    public TrainConfig.Lora config() {
        return config;
    }

    public long trainableParameters() {
        long n = 0;
        for (Param p : params) {
            n += p.array().size();
        }
        return n;
    }

    public void setEnabled(boolean enabled) {
        projections.forEach(p -> p.setEnabled(enabled));
    }

    /**
     * Outside training, round the low-rank branch as torch.autocast does (A and B cast to the compute
     * dtype inside the products), as transformers' Trainer evaluates a mixed-precision run; false (the
     * default) is PeftModel without autocast, as {@code medqa eval}, lm-eval-harness and serving run it.
     * The same in fp32.
     */
    public void setAutocast(boolean autocast) {
        projections.forEach(p -> p.setAutocast(autocast));
    }

    /** The current values by PEFT name (one host copy per matrix). */
    public Map<String, float[]> values() {
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        for (Param p : params) {
            out.put(p.name(), p.array().toFloatArray());
        }
        return out;
    }

    /** Writes adapter_model.safetensors and adapter_config.json into {@code dir}, each atomically. */
    public void save(Path dir, String baseModel) {
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        for (Param p : params) {
            writer.add(p.name(), "F32", p.array().getShape().getShape(), p.array().toFloatArray());
        }
        writer.write(dir.resolve(WEIGHTS_FILE));
        AtomicFiles.writeString(dir.resolve(CONFIG_FILE), peftConfig(config, baseModel));
    }

    /** adapter_config.json as PEFT writes it for a causal-LM LoRA. */
    static String peftConfig(TrainConfig.Lora c, String baseModel) {
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.put("peft_type", "LORA");
        n.put("task_type", "CAUSAL_LM");
        n.put("base_model_name_or_path", baseModel);
        n.put("r", c.r());
        if (c.alpha() == Math.rint(c.alpha())) {
            n.put("lora_alpha", (long) c.alpha()); // PEFT writes an integer alpha as an integer
        } else {
            n.put("lora_alpha", c.alpha());
        }
        n.put("lora_dropout", c.dropout());
        var targets = n.putArray("target_modules");
        c.targetModules().forEach(targets::add);
        n.put("bias", "none");
        n.put("use_rslora", c.useRslora());
        n.put("fan_in_fan_out", false);
        n.put("inference_mode", true);
        n.putNull("modules_to_save");
        n.put("init_lora_weights", true);
        n.put("use_dora", false);
        return n.toPrettyString() + "\n";
    }

    /** Restores the base projections; the adapter's arrays are freed. */
    @Override
    public void close() {
        for (Qwen3Layer layer : model.layers()) {
            for (String target : config.targetModules()) {
                if (layer.projection(target) instanceof LoraProjection lora && projections.contains(lora)) {
                    layer.setProjection(target, lora.base());
                }
            }
        }
        manager.close();
    }
}
