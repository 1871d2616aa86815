package io.medqa.serve;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.data.McqSample;
import io.medqa.eval.LetterScorer;
import io.medqa.lora.LoadedModel;
import io.medqa.model.Attention;
import io.medqa.model.Generator;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Sampling;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** A Qwen3 model with an optional LoRA adapter, loaded once, scored with {@link LetterScorer}. */
public final class ModelBackend implements Backend, AutoCloseable {

    private final LoadedModel loaded;
    private final QwenTokenizer tokenizer;
    private final Qwen3Model model;
    private final LetterScorer scorer;
    private final Generator generator;
    private final Set<Integer> stopIds;

    private ModelBackend(LoadedModel loaded) {
        this.loaded = loaded;
        this.tokenizer = loaded.tokenizer;
        this.model = loaded.model;
        this.scorer = LetterScorer.chat(model, tokenizer);
        this.stopIds = tokenizer.stopIds(model.config());
        this.generator = new Generator(model, stopIds);
    }

    /** @param adapterDir null for the base model alone */
    public static ModelBackend open(Path modelDir, Path adapterDir, Device device, DataType dtype, Attention attention) {
        LoadedModel loaded = LoadedModel.open(modelDir, adapterDir, device, dtype, attention);
        try {
            return new ModelBackend(loaded);
        } catch (RuntimeException e) {
            loaded.close();
            throw e;
        }
    }

    @Override
    public double[][] score(List<McqSample> batch) {
        return scorer.score(batch);
    }

    /** Thrown from inside the generator's token callback to end decoding early; never escapes. */
    private static final class Stop extends RuntimeException {
        Stop() {
            super(null, null, false, false);
        }
    }

    @Override
    public Generated generate(int[] prompt, int maxNewTokens, Sampling sampling, TokenListener onToken) {
        int[] ids = new int[maxNewTokens];
        int[] n = {0};
        boolean[] stopped = {false};
        try {
            generator.generate(prompt, maxNewTokens, sampling, id -> {
                if (stopIds.contains(id)) {
                    stopped[0] = true;
                    return;
                }
                ids[n[0]++] = id;
                if (!onToken.accept(id)) {
                    throw new Stop();
                }
            });
        } catch (Stop expected) {
            // the listener asked to stop; the KV cache was closed on the way out
        }
        return new Generated(Arrays.copyOf(ids, n[0]), stopped[0]);
    }

    @Override
    public int[] encode(String text) {
        return tokenizer.encode(text);
    }

    @Override
    public String decode(int[] ids) {
        return tokenizer.decode(ids, true);
    }

    @Override
    public int contextLength() {
        return model.config().maxPositionEmbeddings();
    }

    @Override
    public int scoringTokens(McqSample s) {
        return scorer.inputIds(s).length;
    }

    @Override
    public void close() {
        loaded.close();
    }
}
