package io.medqa.testing;

import io.medqa.model.TinyQwen3;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.data.SyntheticMcq;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A tiny model, synthetic train/validation/test files, and a config over them, in a temp folder. */
public final class TinyRun {

    /**
     * Room for the synthetic task: 2 layers, hidden 64, GQA. Embeddings at std 0.1: at 1.0 the current
     * token's embedding swamps the residual stream and LoRA needs several times more steps to learn.
     */
    public static final TinyQwen3.Spec SPEC = new TinyQwen3.Spec(300, 64, 128, 2, 4, 2, 16, true, 10000.0, 5, 0.1);

    public final Path root;
    public final Path model;
    public final Path train;
    public final Path validation;
    public final Path test;
    public final Path output;

    public TinyRun(Path root, int trainSamples) throws IOException {
        this(root, trainSamples, SPEC.embedStd());
    }

    public TinyRun(Path root, int trainSamples, double embedStd) throws IOException {
        this.root = root;
        TinyQwen3.Spec s = SPEC;
        this.model = TinyQwen3.write(root.resolve("model"), new TinyQwen3.Spec(s.vocab(), s.hidden(), s.intermediate(),
                s.layers(), s.heads(), s.kvHeads(), s.headDim(), s.tied(), s.ropeTheta(), s.seed(), embedStd), "F32", 1);
        this.train = root.resolve("train.jsonl");
        this.validation = root.resolve("validation.jsonl");
        this.test = root.resolve("test.jsonl");
        this.output = root.resolve("out");
        SyntheticMcq.write(train, trainSamples, 1);
        SyntheticMcq.write(validation, 64, 2);
        SyntheticMcq.write(test, 200, 3);
    }

    /** Overrides for a quick fp32 CPU run; {@code extra} come last and win. */
    public List<String> overrides(String... extra) {
        List<String> o = new ArrayList<>(List.of(
                "model.path=" + model, "device=cpu", "data.train=" + train, "data.validation=" + validation,
                "data.test=" + test, "data.max_seq_len=512", "output.dir=" + output,
                "lora.r=8", "lora.alpha=16", "lora.dropout=0.0", "train.precision=fp32",
                "train.micro_batch_size=8", "train.grad_accum_steps=1", "train.lr=1e-2", "train.warmup_ratio=0.05",
                "train.seed=3"));
        o.addAll(List.of(extra));
        return o;
    }

    public TrainConfig config(String... extra) {
        return ConfigLoader.load(null, overrides(extra));
    }

    public com.fasterxml.jackson.databind.node.ObjectNode tree(String... extra) {
        return ConfigLoader.resolveTree(null, overrides(extra));
    }
}
