package io.medqa.config;

import io.medqa.model.Qwen3Layer;

import java.util.List;
import java.util.Set;

/**
 * A training run's configuration, one record per YAML section, keys in snake_case in the file.
 * Compact constructors validate and name the offending key.
 */
public record TrainConfig(Model model, String device, Data data, Lora lora, Train train, Output output) {

    /** @param attention eager or sdpa (see io.medqa.model.Attention), as transformers' attn_implementation */
    public record Model(String path, String attention) {
        public Model {
            oneOf("model.attention", attention, "eager", "sdpa");
        }
    }

    /**
     * @param copBase MedMCQA's cop: "1" (original release, 1 = opa), "0" (Hugging Face export) or "auto"
     * @param maxSamples 0 reads every sample
     * @param overlong what to do with a sample longer than max_seq_len: "truncate" cuts the explanation
     *     (the answer letter and at least one target token must fit, else it is skipped) or "skip"
     * @param prefetch prepare each training step's batches on a background thread while the step before
     *     trains (the same batches either way)
     */
    public record Data(String train, String validation, String test, String format, String copBase,
                       int maxSamples, int maxSeqLen, String overlong, int shuffleBuffer, String onError,
                       int evalMaxSamples, boolean prefetch) {
        public Data {
            oneOf("data.format", format, "auto", "medmcqa", "medqa", "medqa-hf", "pubmedqa", "mmlu");
            oneOf("data.cop_base", copBase, "auto", "0", "1");
            oneOf("data.overlong", overlong, "truncate", "skip");
            oneOf("data.on_error", onError, "fail", "skip");
            atLeast("data.max_samples", maxSamples, 0);
            atLeast("data.max_seq_len", maxSeqLen, 16);
            atLeast("data.shuffle_buffer", shuffleBuffer, 1);
            atLeast("data.eval_max_samples", evalMaxSamples, 0);
        }
    }

    public record Lora(int r, double alpha, double dropout, List<String> targetModules, boolean useRslora) {
        public Lora {
            atLeast("lora.r", r, 1);
            if (!(alpha > 0)) {
                throw new ConfigException("lora.alpha", "must be > 0, got " + alpha);
            }
            if (!(dropout >= 0 && dropout < 1)) {
                throw new ConfigException("lora.dropout", "must be in [0, 1), got " + dropout);
            }
            if (targetModules == null || targetModules.isEmpty()) {
                throw new ConfigException("lora.target_modules", "must name at least one projection");
            }
            for (String m : targetModules) {
                if (!Qwen3Layer.PROJECTIONS.contains(m)) {
                    throw new ConfigException("lora.target_modules", "\"" + m + "\" is not one of "
                            + Qwen3Layer.PROJECTIONS);
                }
            }
            if (Set.copyOf(targetModules).size() != targetModules.size()) {
                throw new ConfigException("lora.target_modules", "lists a module twice: " + targetModules);
            }
            targetModules = List.copyOf(targetModules);
        }

        /** PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA. */
        public double scale() {
            return useRslora ? alpha / Math.sqrt(r) : alpha / r;
        }
    }

    /**
     * @param saveBest keep the adapter of the evaluation with the highest validation accuracy in best/
     * @param tensorboard also write TensorBoard event files to output.dir/tensorboard
     * @param optim the AdamW implementation, as transformers names it: adamw_torch_fused (multi-tensor,
     *     the default) or adamw_torch (per matrix); both compute the same update
     */
    public record Train(String precision, int microBatchSize, int gradAccumSteps, double lr, double weightDecay,
                        double adamBeta1, double adamBeta2, double adamEpsilon, String optim, String scheduler,
                        double warmupRatio, int epochs, int maxSteps, double maxGradNorm, long seed,
                        int saveSteps, int saveTotalLimit, int evalSteps, double lossScaleInit,
                        int lossScaleGrowthInterval, boolean saveBest, boolean tensorboard) {
        public Train {
            oneOf("train.precision", precision, "fp16", "bf16", "fp32");
            oneOf("train.optim", optim, "adamw_torch_fused", "adamw_torch");
            oneOf("train.scheduler", scheduler, "cosine", "linear", "constant");
            atLeast("train.micro_batch_size", microBatchSize, 1);
            atLeast("train.grad_accum_steps", gradAccumSteps, 1);
            atLeast("train.epochs", epochs, 1);
            atLeast("train.max_steps", maxSteps, 0);
            atLeast("train.save_steps", saveSteps, 0);
            atLeast("train.save_total_limit", saveTotalLimit, 1);
            atLeast("train.eval_steps", evalSteps, 0);
            atLeast("train.loss_scale_growth_interval", lossScaleGrowthInterval, 1);
            if (!(lr > 0)) {
                throw new ConfigException("train.lr", "must be > 0, got " + lr);
            }
            if (!(weightDecay >= 0)) {
                throw new ConfigException("train.weight_decay", "must be >= 0, got " + weightDecay);
            }
            if (!(warmupRatio >= 0 && warmupRatio < 1)) {
                throw new ConfigException("train.warmup_ratio", "must be in [0, 1), got " + warmupRatio);
            }
            if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
                throw new ConfigException("train.adam_beta1", "adam_beta1 and adam_beta2 must be in [0, 1)");
            }
            if (!(adamEpsilon > 0)) {
                throw new ConfigException("train.adam_epsilon", "must be > 0, got " + adamEpsilon);
            }
            if (!(maxGradNorm >= 0)) {
                throw new ConfigException("train.max_grad_norm", "must be >= 0 (0 disables clipping)");
            }
            if (!(lossScaleInit >= 1)) {
                throw new ConfigException("train.loss_scale_init", "must be >= 1, got " + lossScaleInit);
            }
        }
    }

    public record Output(String dir) {
        public Output {
            if (dir == null || dir.isBlank()) {
                throw new ConfigException("output.dir", "is required");
            }
        }
    }

    public TrainConfig {
        if (model == null || model.path() == null || model.path().isBlank()) {
            throw new ConfigException("model.path", "is required: a Hugging Face Qwen3 folder");
        }
        if (device == null) {
            throw new ConfigException("device", "is required (auto, cpu, gpu or gpu:N)");
        }
        if (train != null && train.saveBest() && (data == null || data.validation() == null || train.evalSteps() <= 0)) {
            throw new ConfigException("train.save_best", "needs validation accuracy: set data.validation and "
                    + "train.eval_steps > 0");
        }
    }

    static void oneOf(String key, String value, String... allowed) {
        if (value == null || !List.of(allowed).contains(value)) {
            throw new ConfigException(key, "must be one of " + String.join(", ", allowed) + ", got \"" + value + "\"");
        }
    }

    static void atLeast(String key, long value, long min) {
        if (value < min) {
            throw new ConfigException(key, "must be >= " + min + ", got " + value);
        }
    }
}
