package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.lora.LoadedModel;
import io.medqa.model.ChatTemplate;
import io.medqa.model.Generator;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Sampling;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code medqa generate}: text from a prompt, greedy or sampled, with a KV cache. */
@Command(name = "generate",
        description = "Generate text with a Qwen3 model: streams the answer to a prompt, or prints JSON.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa generate --model ./Qwen3-1.7B --prompt \"Which nerve supplies the deltoid muscle?\"",
            "  medqa generate --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa \\",
            "      --prompt \"Drug of choice for absence seizures?\"",
            "  medqa generate --model ./Qwen3-1.7B --prompt-ids 151644,872,198 --max-new-tokens 16 --json",
            "  medqa generate --model ./Qwen3-1.7B --prompt \"Once upon a time\" --raw --temperature 0.7 "
                    + "--top-p 0.9 --seed 1"
        })
final class GenerateCommand extends BaseCommand {

    private static final Logger LOG = LoggerFactory.getLogger(GenerateCommand.class);

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Hugging Face Qwen3 folder: config.json, model.safetensors or "
                    + "model.safetensors.index.json with its shards, tokenizer.json, tokenizer_config.json.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors), applied on the fly.")
    Path adapter;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT",
                description = "Prompt text, wrapped in Qwen3's chat template (non-thinking) unless --raw.")
        String prompt;

        @Option(names = "--prompt-ids", paramLabel = "IDS", split = ",",
                description = "Prompt as comma-separated token ids, used exactly as given (no template).")
        int[] promptIds;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--raw", description = "Tokenize --prompt as it is, without the chat template.")
    boolean raw;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "256",
            description = "Most tokens to generate (default: ${DEFAULT-VALUE}); generation also stops at eos.")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0",
            description = "0 (default) is greedy decoding; above 0 samples from softmax(logits / T).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0",
            description = "When sampling, keep the K most likely tokens (0, the default, keeps all).")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1.0",
            description = "When sampling, keep the smallest set of tokens whose probability reaches P "
                    + "(default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Random seed for sampling (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object: ids (prompt then generated), text, "
            + "prompt_tokens, generated_tokens, finish_reason.")
    boolean json;

    @Mixin
    ComputeOptions compute;

    @Override
    int run() throws Exception {
        if (maxNewTokens < 0) {
            throw new MedqaException(ExitCodes.USAGE, "--max-new-tokens must be >= 0, got " + maxNewTokens);
        }
        Sampling sampling;
        try {
            sampling = new Sampling(temperature, topK, topP, seed);
        } catch (IllegalArgumentException e) {
            throw new MedqaException(ExitCodes.USAGE, e.getMessage());
        }
        Device device = compute.resolveDevice();
        DataType dtype = compute.resolveDtype(device);
        try (LoadedModel loaded = LoadedModel.open(model, adapter, device, dtype, compute.resolveAttention())) {
            QwenTokenizer tokenizer = loaded.tokenizer;
            Qwen3Model qwen = loaded.model;
            int[] prompt = promptIds(tokenizer, qwen.config().vocabSize());
            Generator generator = new Generator(qwen, tokenizer.stopIds(qwen.config()));
            TextStream stream = json ? null : new TextStream(tokenizer, out());
            long t1 = System.nanoTime();
            Generator.Result result = generator.generate(prompt, maxNewTokens, sampling,
                    id -> {
                        if (stream != null) {
                            stream.accept(id);
                        }
                    });
            double seconds = (System.nanoTime() - t1) / 1e9;
            LOG.info("{} prompt tokens, {} generated in {} s ({} tokens/s)", prompt.length,
                    result.generated().length, String.format("%.2f", seconds),
                    String.format("%.1f", result.generated().length / Math.max(seconds, 1e-9)));
            if (json) {
                ObjectNode node = new ObjectMapper().createObjectNode();
                var ids = node.putArray("ids");
                for (int id : result.ids()) {
                    ids.add(id);
                }
                node.put("text", tokenizer.decode(result.generated(), true));
                node.put("prompt_tokens", result.promptTokens());
                node.put("generated_tokens", result.generated().length);
                node.put("finish_reason", result.finish() == Generator.Finish.EOS ? "eos" : "length");
                out().println(node.toString());
            } else {
                out().println();
            }
            out().flush();
        }
        return ExitCodes.OK;
    }

    private int[] promptIds(QwenTokenizer tokenizer, int vocab) {
        if (input.promptIds != null) {
            for (int id : input.promptIds) {
                if (id < 0 || id >= vocab) {
                    throw new MedqaException(ExitCodes.USAGE, "--prompt-ids: token id " + id
                            + " is outside the vocabulary [0, " + vocab + ")");
                }
            }
            if (input.promptIds.length == 0) {
                throw new MedqaException(ExitCodes.USAGE, "--prompt-ids is empty");
            }
            return input.promptIds;
        }
        int[] ids = tokenizer.encode(raw ? input.prompt : ChatTemplate.userTurn(input.prompt));
        if (ids.length == 0) {
            throw new MedqaException(ExitCodes.USAGE, "--prompt is empty after tokenization");
        }
        return ids;
    }
}
