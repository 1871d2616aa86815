package io.medqa.lora;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.medqa.model.Attention;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;

/**
 * A base model, its tokenizer and an optional LoRA adapter applied on the fly, loaded together and
 * closed together: what eval, ask, generate, the demo and the server all start from.
 */
public final class LoadedModel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LoadedModel.class);

    public final QwenTokenizer tokenizer;
    public final Qwen3Model model;
    /** null for the base model alone */
    public final LoraAdapter adapter;

    private LoadedModel(QwenTokenizer tokenizer, Qwen3Model model, LoraAdapter adapter) {
        this.tokenizer = tokenizer;
        this.model = model;
        this.adapter = adapter;
    }

    /** @param adapterDir null for the base model alone */
    public static LoadedModel open(Path modelDir, Path adapterDir, Device device, DataType dtype) {
        return open(modelDir, adapterDir, device, dtype, Attention.DEFAULT);
    }

    /** @param adapterDir null for the base model alone */
    public static LoadedModel open(Path modelDir, Path adapterDir, Device device, DataType dtype, Attention attention) {
        long t0 = System.nanoTime();
        QwenTokenizer tokenizer = QwenTokenizer.load(modelDir);
        Qwen3Model model = null;
        try {
            model = Qwen3Model.load(modelDir, device, dtype);
            model.setAttention(attention);
            LoraAdapter adapter = adapterDir == null ? null : LoraAdapter.load(model, adapterDir);
            LOG.info("loaded {}{} on {} in {}, attention {} ({} ms)", modelDir,
                    adapterDir == null ? "" : " with adapter " + adapterDir, device, dtype, attention.id(),
                    (System.nanoTime() - t0) / 1_000_000);
            return new LoadedModel(tokenizer, model, adapter);
        } catch (RuntimeException e) {
            if (model != null) {
                model.close();
            }
            tokenizer.close();
            throw e;
        }
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
