package io.medqa.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.train.Checkpoints;
import io.medqa.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** {@code medqa train}: LoRA fine-tuning from a YAML config. */
@Command(name = "train",
        description = "Fine-tune a Qwen3 model with LoRA on MedMCQA or MedQA JSONL. Writes the adapter in PEFT "
                + "format, metrics.jsonl, loss_curve.png, TensorBoard event files, config.yaml, run.json, checkpoints and (train.save_best) best/ to output.dir.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa train --config configs/qwen3-lora.yaml",
            "  medqa train --config configs/qwen3-lora.yaml --set model.path=./Qwen3-1.7B \\",
            "      --set data.train=data/medmcqa/train.jsonl --set output.dir=runs/medmcqa",
            "  medqa train --config configs/qwen3-lora.yaml --resume            # latest checkpoint in output.dir",
            "  medqa train --config configs/qwen3-lora.yaml --resume runs/medmcqa/checkpoint-50",
            "  medqa train --config configs/qwen3-lora.yaml --dry-run          # check, count steps, stop",
            "",
            "Ctrl-C saves a checkpoint before exiting (exit code 130); --resume continues from it."
        })
final class TrainCommand extends BaseCommand {

    @Option(names = "--config", required = true, paramLabel = "FILE", description = "YAML config (see configs/).")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a config key, e.g. --set train.lr=1e-4 --set lora.target_modules=[q_proj,v_proj]. "
                    + "Repeatable.")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--device", paramLabel = "auto|cpu|gpu|gpu:N",
            description = "Where to compute; the same as --set device=... (default: the config's device).")
    String device;

    @Option(names = "--resume", arity = "0..1", paramLabel = "DIR", fallbackValue = "",
            description = "Continue from a checkpoint folder; without DIR, the latest checkpoint in output.dir.")
    String resume;

    @Option(names = "--dry-run", description = "Check the config, model folder and data, print the resolved config, "
            + "the data summary and the step count, and stop: no weights are loaded, nothing is written.")
    boolean dryRun;

    @Override
    int run() throws Exception {
        List<String> all = new ArrayList<>(overrides);
        if (device != null) {
            all.add("device=" + device);
        }
        ObjectNode tree = ConfigLoader.resolveTree(config, all);
        TrainConfig cfg = ConfigLoader.bind(tree, config.toString());
        if (dryRun) {
            DryRun.print(cfg, out());
            return ExitCodes.OK;
        }
        Path out = Path.of(cfg.output().dir());
        Files.createDirectories(out);
        LogSetup.fileLog(out.resolve("train.log"));
        Path resumeFrom = resolveResume(out);

        Trainer.Listener listener = new TrainProgress(err());

        // Ctrl-C: ask the loop to stop at the next step boundary and wait for its checkpoint.
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.set(true);
            try {
                done.await(10, TimeUnit.MINUTES);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "medqa-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        Trainer.Result result;
        try {
            result = new Trainer(cfg, tree, resumeFrom, listener, stop).run();
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // already shutting down (Ctrl-C): the hook is running and now returns
            }
        }
        if (result.interrupted()) {
            err().println("interrupted after step " + result.steps() + "; resume with: medqa train --config " + config
                    + " --resume");
            return ExitCodes.INTERRUPTED;
        }
        out().printf(Locale.ROOT, "trained %d steps, final loss %.4f, %d skipped; adapter and metrics in %s%n",
                result.steps(), result.finalLoss(), result.skippedSteps(), result.outputDir());
        return ExitCodes.OK;
    }

    private Path resolveResume(Path out) {
        if (resume == null) {
            return null;
        }
        if (!resume.isEmpty()) {
            Path dir = Path.of(resume);
            if (!Files.isDirectory(dir)) {
                throw new MedqaException(ExitCodes.NO_INPUT, resume + ": checkpoint folder not found");
            }
            return dir;
        }
        List<Path> all = Checkpoints.list(out);
        if (all.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, out + ": no checkpoint-* folder to resume from");
        }
        return all.get(all.size() - 1);
    }
}
