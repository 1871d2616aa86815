package io.medqa.cli;

import io.medqa.ExitCodes;
import io.medqa.lora.LoraMerge;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code medqa merge}: fold a LoRA adapter into the base weights. */
@Command(name = "merge",
        description = "Merge a LoRA adapter into its base: writes a complete Hugging Face folder (config, tokenizer "
                + "files, safetensors in the base's dtype and shard layout) with W' = W + scale * B A, ready for "
                + "transformers, vLLM or medqa. Runs on the CPU, one tensor at a time.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa merge --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa --out ./Qwen3-1.7B-medmcqa",
            "  medqa generate --model ./Qwen3-1.7B-medmcqa --prompt \"...\"        # use the merged folder"
        })
final class MergeCommand extends BaseCommand {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model folder.")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "PEFT LoRA adapter folder.")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "New folder to create (must not exist).")
    Path out;

    @Override
    int run() {
        long t0 = System.nanoTime();
        int merged = LoraMerge.merge(model, adapter, out);
        out().printf("merged %d projections into %s in %.1f s%n", merged, out, (System.nanoTime() - t0) / 1e9);
        return ExitCodes.OK;
    }
}
