package io.medqa.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.ConfigLoader;
import io.medqa.config.TrainConfig;
import io.medqa.train.Checkpoints;
import io.medqa.train.RunFolder;
import io.medqa.train.Trainer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
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
            "  medqa train --resume runs/medmcqa                                 # the run's latest checkpoint",
            "  medqa train --config configs/qwen3-lora.yaml --resume            # latest checkpoint in output.dir",
            "  medqa train --config configs/qwen3-lora.yaml --resume runs/medmcqa/checkpoint-50",
            "  medqa train --config configs/qwen3-lora.yaml --dry-run          # check, count steps, stop",
            "  medqa train --config configs/qwen3-lora.yaml --overwrite         # replace the run in output.dir",
            "",
            "Ctrl-C saves a checkpoint before exiting (exit code 130) and prints the command that resumes the run.",
            "A finished run is not resumed; an output.dir holding another run is refused unless --overwrite."
        })
final class TrainCommand extends BaseCommand {

    private static final Logger LOG = LoggerFactory.getLogger(TrainCommand.class);

    @Option(names = "--config", paramLabel = "FILE",
            description = "YAML config (see configs/). Not needed with --resume RUN_DIR: the run's own config is used.")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a config key, e.g. --set train.lr=1e-4 --set lora.target_modules=[q_proj,v_proj]. "
                    + "Repeatable.")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--device", paramLabel = "auto|cpu|gpu|gpu:N",
            description = "Where to compute; the same as --set device=... (default: the config's device).")
    String device;

    @Option(names = "--resume", arity = "0..1", paramLabel = "DIR", fallbackValue = "",
            description = "Continue a run: DIR is a run folder (its latest checkpoint and its config) or a checkpoint "
                    + "folder; without DIR, the latest checkpoint in output.dir.")
    String resume;

    @Option(names = "--dry-run", description = "Check the config, model folder and data, print the resolved config, "
            + "the data summary and the step count, and stop: no weights are loaded, nothing is written.")
    boolean dryRun;
    @Option(names = "--overwrite",
            description = "Start afresh in an output.dir that holds another run, deleting that run (everything in the "
                    + "folder) once the new run has passed its setup. Without it such a folder is refused.")
    boolean overwrite;

    @Override
    int run() throws Exception {
        if (resume != null && overwrite) {
            throw new MedqaException(ExitCodes.USAGE, "--resume and --overwrite exclude each other");
        }
        if (config == null && (resume == null || resume.isEmpty())) {
            throw new MedqaException(ExitCodes.USAGE, "give --config FILE, or --resume RUN_DIR to continue a run");
        }
        List<String> all = new ArrayList<>(overrides);
        if (device != null) {
            all.add("device=" + device);
        }
        Path resumeArg = resume == null || resume.isEmpty() ? null : Path.of(resume);
        if (resumeArg != null && !Files.isDirectory(resumeArg)) {
            throw new MedqaException(ExitCodes.NO_INPUT, resume + ": run or checkpoint folder not found");
        }
        // Resuming a run folder writes into that folder, wherever it has moved since; a checkpoint named
        // with --config resumes into the config's output.dir (checked to be the same run below).
        Path runDir = resumeArg == null ? null : RunFolder.of(resumeArg);
        if (runDir != null && (config == null || runDir.equals(resumeArg))) {
            all.add("output.dir=" + runDir);
        }
        ObjectNode tree;
        String source;
        if (config != null) {
            tree = ConfigLoader.resolveTree(config, all);
            source = config.toString();
        } else {
            ObjectNode run = RunFolder.runJson(runDir);
            if (run == null || !(run.get("config") instanceof ObjectNode saved)) {
                throw new MedqaException(ExitCodes.NO_INPUT, runDir.resolve(RunFolder.RUN_JSON) + ": "
                        + (run == null ? "file not found" : "holds no config") + "; give --config FILE as well");
            }
            source = runDir.resolve(RunFolder.RUN_JSON).toString();
            tree = ConfigLoader.resolveTree(saved, source, all);
        }
        TrainConfig cfg = ConfigLoader.bind(tree, source, all);
        if (dryRun) {
            DryRun.print(cfg, out());
            return ExitCodes.OK;
        }
        Path out = Path.of(cfg.output().dir());
        Path resumeFrom = resume == null ? null : checkpointToResume(resumeArg, out);
        if (resumeFrom != null) {
            String complete = RunFolder.checkResume(out, resumeFrom);
            if (complete != null) {
                err().println("medqa: " + complete);
                return ExitCodes.OK;
            }
        }
        RunFolder folder = resumeFrom == null ? RunFolder.fresh(out, overwrite) : RunFolder.open(out);
        LogSetup.fileLog(out.resolve("train.log"));

        TrainProgress listener = new TrainProgress(err());

        // Ctrl-C: ask the loop to stop at the next step boundary, and keep the JVM alive until the
        // checkpoint is saved and the resume hint printed (the hook returning lets the JVM exit).
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
        try {
            Trainer.Result result;
            try {
                result = new Trainer(cfg, tree, resumeFrom, listener, stop).run();
            } catch (RuntimeException | IOException e) {
                if (!listener.hasStarted()) {
                    // Rejected during setup (data, model, device): leave nothing behind for a run that never ran.
                    LogSetup.closeFileLog();
                    folder.removeCreated();
                } else {
                    folder.discardOverwritten();
                }
                throw e;
            }
            folder.discardOverwritten();
            if (result.interrupted()) {
                String hint = "interrupted after step " + result.steps() + "; checkpoint saved in "
                        + out.resolve("checkpoint-" + result.steps()) + "; resume with: medqa train --resume "
                        + RunFolder.shellQuote(out.toString());
                LOG.info(hint);
                err().println(hint);
                err().flush();
                return ExitCodes.INTERRUPTED;
            }
            out().printf(Locale.ROOT, "trained %d steps, final loss %.4f, %d skipped; adapter and metrics in %s%n",
                    result.steps(), result.finalLoss(), result.skippedSteps(), result.outputDir());
            out().flush();
            return ExitCodes.OK;
        } finally {
            LogSetup.closeFileLog();
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // already shutting down (Ctrl-C): the hook is running and now returns
            }
        }
    }

    /** The checkpoint a --resume names: a checkpoint folder, or a run folder's (or output.dir's) latest. */
    private static Path checkpointToResume(Path resumeArg, Path out) {
        if (resumeArg != null && Files.isRegularFile(resumeArg.resolve(Checkpoints.STATE))) {
            return resumeArg;
        }
        Path dir = resumeArg != null ? resumeArg : out;
        List<Path> all = Checkpoints.list(dir);
        if (all.isEmpty()) {
            ObjectNode run = RunFolder.runJson(dir);
            if (run != null && "completed".equals(run.path("status").asText())) {
                return dir; // checkResume says the run is complete
            }
            throw new MedqaException(ExitCodes.NO_INPUT, dir + ": no checkpoint-* folder to resume from");
        }
        return all.get(all.size() - 1);
    }
}
