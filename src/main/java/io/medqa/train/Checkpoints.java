package io.medqa.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.config.TrainConfig;
import io.medqa.io.AtomicFiles;
import io.medqa.io.Json;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.AdapterFiles;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * checkpoint-{step}/ folders in the output folder: the adapter in PEFT format (usable on its own),
 * optimizer.safetensors (AdamW moments) and trainer_state.json. A checkpoint is assembled under a
 * temporary name and renamed into place, so a listed checkpoint is always complete.
 */
public final class Checkpoints {

    static final String PREFIX = "checkpoint-";
    static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoints() {}

    /** A loaded checkpoint. */
    public record Loaded(Path dir, TrainerState state, Map<String, float[]> adapter, Map<String, float[]> optimizer) {}

    public static Path save(Path outputDir, TrainerState state, LoraAdapter adapter, AdamW optimizer,
                            String baseModel, int keepLast) {
        Path target = outputDir.resolve(PREFIX + state.step());
        Path temp = outputDir.resolve("." + PREFIX + state.step() + ".partial");
        try {
            deleteTree(temp);
            Files.createDirectories(temp);
            adapter.save(temp, baseModel);
            SafetensorsWriter opt = new SafetensorsWriter().metadata("format", "medqa-adamw");
            optimizer.state().forEach((k, v) -> opt.add(k, "F32", new long[] {v.length}, v));
            opt.write(temp.resolve(OPTIMIZER));
            AtomicFiles.writeString(temp.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
            deleteTree(target);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            // A full disk must not leave a half-written .checkpoint-N.partial behind.
            try {
                deleteTree(temp);
            } catch (IOException ignored) {
                // best effort; the save's own error is reported
            }
            if (e instanceof MedqaException m) {
                throw m;
            }
            throw new MedqaException(ExitCodes.IO, target + ": cannot write checkpoint: " + e.getMessage(), e);
        }
        prune(outputDir, keepLast);
        return target;
    }

    /** Checkpoint folders, oldest (lowest step) first. */
    public static List<Path> list(Path outputDir) {
        if (!Files.isDirectory(outputDir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(outputDir)) {
            return s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().matches(PREFIX + "\\d+"))
                    .sorted(Comparator.comparingInt(Checkpoints::stepOf))
                    .toList();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, outputDir + ": cannot list: " + e.getMessage());
        }
    }

    static int stepOf(Path checkpoint) {
        return Integer.parseInt(checkpoint.getFileName().toString().substring(PREFIX.length()));
    }

    private static void prune(Path outputDir, int keepLast) {
        List<Path> all = list(outputDir);
        for (int i = 0; i < all.size() - keepLast; i++) {
            try {
                deleteTree(all.get(i));
            } catch (IOException e) {
                throw new MedqaException(ExitCodes.IO, all.get(i) + ": cannot delete old checkpoint: " + e.getMessage());
            }
        }
    }

    /** trainer_state.json of a checkpoint folder. */
    public static TrainerState readState(Path dir) {
        Path stateFile = dir.resolve(STATE);
        if (!Files.isRegularFile(stateFile)) {
            throw new MedqaException(ExitCodes.NO_INPUT, stateFile + ": file not found (is " + dir + " a checkpoint?)");
        }
        try {
            return JSON.readValue(stateFile.toFile(), TrainerState.class);
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, stateFile + ": " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, stateFile + ": cannot read: " + e.getMessage());
        }
    }

    /**
     * Loads a checkpoint for resuming with {@code lora} on {@code base}: the adapter is read with
     * {@link AdapterFiles}' checks (shapes, finite values), its LoRA settings must be the config's, and
     * the optimizer must hold both moments of every matrix with its size, so that nothing fails deep
     * inside the optimizer (a missing moment, another rank) with an internal error.
     */
    public static Loaded load(Path dir, Qwen3Config base, TrainConfig.Lora lora) {
        TrainerState state = readState(dir);
        if (state.step() < 0 || state.epoch() < 0 || state.consumed() < 0 || state.adamSteps() < 0
                || !(state.lossScale() > 0)) {
            throw new MedqaException(ExitCodes.DATA, dir.resolve(STATE) + ": impossible values (step " + state.step()
                    + ", epoch " + state.epoch() + ", consumed " + state.consumed() + ", loss_scale " + state.lossScale() + ")");
        }
        AdapterFiles.Loaded adapter = AdapterFiles.read(dir, base);
        TrainConfig.Lora saved = adapter.config();
        List<String> diffs = new ArrayList<>();
        if (saved.r() != lora.r()) {
            diffs.add("lora.r " + saved.r() + " (config: " + lora.r() + ")");
        }
        if (saved.alpha() != lora.alpha()) {
            diffs.add("lora.alpha " + saved.alpha() + " (config: " + lora.alpha() + ")");
        }
        if (saved.useRslora() != lora.useRslora()) {
            diffs.add("lora.use_rslora " + saved.useRslora() + " (config: " + lora.useRslora() + ")");
        }
        if (!Set.copyOf(saved.targetModules()).equals(Set.copyOf(lora.targetModules()))) {
            diffs.add("lora.target_modules " + saved.targetModules() + " (config: " + lora.targetModules() + ")");
        }
        if (!diffs.isEmpty()) {
            throw new MedqaException(ExitCodes.DATA, dir + ": the checkpoint was trained with " + String.join(", ", diffs)
                    + "; resume with the LoRA settings it was trained with");
        }
        Path optimizerFile = dir.resolve(OPTIMIZER);
        if (!Files.isRegularFile(optimizerFile)) {
            throw new MedqaException(ExitCodes.NO_INPUT, optimizerFile + ": file not found (is " + dir + " a checkpoint?)");
        }
        Map<String, float[]> moments = readAll(optimizerFile);
        // AdamW numbers its parameters in injection order: layer by layer, target by target, A then B.
        int index = 0;
        for (int layer = 0; layer < base.numHiddenLayers(); layer++) {
            for (String target : lora.targetModules()) {
                for (String matrix : new String[] {"lora_A", "lora_B"}) {
                    float[] w = adapter.weights().get(LoraAdapter.key(layer, target, matrix));
                    if (w == null) {
                        continue;
                    }
                    for (String moment : new String[] {"m." + index, "v." + index}) {
                        float[] values = moments.get(moment);
                        if (values == null || values.length != w.length) {
                            throw new MedqaException(ExitCodes.DATA, optimizerFile + ": moment " + moment + " (for "
                                    + LoraAdapter.key(layer, target, matrix) + ") is " + (values == null ? "missing"
                                    : "of size " + values.length + ", expected " + w.length));
                        }
                        for (float v : values) {
                            if (!Float.isFinite(v)) {
                                throw new MedqaException(ExitCodes.DATA, optimizerFile + ": moment " + moment
                                        + " holds non-finite values");
                            }
                        }
                    }
                    index++;
                }
            }
        }
        if (moments.size() != 2 * index) {
            throw new MedqaException(ExitCodes.DATA, optimizerFile + ": holds " + moments.size() + " moments, expected "
                    + 2 * index + " for the adapter's " + index + " matrices");
        }
        return new Loaded(dir, state, adapter.weights(), moments);
    }

    static Map<String, float[]> readAll(Path file) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.tensors().keySet()) {
                out.put(name, f.readFloats(name));
            }
        }
        return out;
    }

    /** Deletes a file or a folder with everything in it. */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
