package io.medqa.serve;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.data.McqSample;
import io.medqa.eval.LetterScorer;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Generator;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Sampling;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** A Qwen3 model with an optional LoRA adapter, loaded once, scored with {@link LetterScorer}. */
public final class ModelBackend implements Backend, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelBackend.class);

    private final QwenTokenizer tokenizer;
    private final Qwen3Model model;
    private final LoraAdapter adapter;
    private final LetterScorer scorer;
    private final Generator generator;
    private final Set<Integer> stopIds;

    private ModelBackend(QwenTokenizer tokenizer, Qwen3Model model, LoraAdapter adapter) {
        this.tokenizer = tokenizer;
        this.model = model;
        this.adapter = adapter;
        this.scorer = LetterScorer.chat(model, tokenizer);
        this.stopIds = tokenizer.stopIds(model.config());
        this.generator = new Generator(model, stopIds);
    }

    /** @param adapterDir null for the base model alone */
    public static ModelBackend open(Path modelDir, Path adapterDir, Device device, DataType dtype) {
        long t0 = System.nanoTime();
        QwenTokenizer tokenizer = QwenTokenizer.load(modelDir);
        Qwen3Model model = null;
        try {
            model = Qwen3Model.load(modelDir, device, dtype);
            LoraAdapter adapter = adapterDir == null ? null : LoraAdapter.load(model, adapterDir);
            LOG.info("loaded {}{} on {} in {} ({} ms)", modelDir, adapterDir == null ? "" : " with adapter " + adapterDir,
                    device, dtype, (System.nanoTime() - t0) / 1_000_000);
            return new ModelBackend(tokenizer, model, adapter);
        } catch (RuntimeException e) {
            if (model != null) {
                model.close();
            }
            tokenizer.close();
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
        if (adapter != null) {
            adapter.close();
        }
        model.close();
        tokenizer.close();
    }
}
