package io.medqa.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.AtomicFiles;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.LoraAdapter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * checkpoint-{step}/ folders in the output folder: the adapter in PEFT format (usable on its own),
 * optimizer.safetensors (AdamW moments) and trainer_state.json. A checkpoint is assembled under a
 * temporary name and renamed into place, so a listed checkpoint is always complete.
 */
public final class Checkpoints {

    static final String PREFIX = "checkpoint-";
    static final String OPTIMIZER = "optimizer.safetensors";
    static final String STATE = "trainer_state.json";
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
        } catch (IOException e) {
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

    public static Loaded load(Path dir) {
        Path stateFile = dir.resolve(STATE);
        if (!Files.isRegularFile(stateFile)) {
            throw new MedqaException(ExitCodes.NO_INPUT, stateFile + ": file not found (is " + dir + " a checkpoint?)");
        }
        TrainerState state;
        try {
            state = JSON.readValue(stateFile.toFile(), TrainerState.class);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.DATA, stateFile + ": " + MedqaException.firstLine(e.getMessage()));
        }
        return new Loaded(dir, state, readAll(dir.resolve(LoraAdapter.WEIGHTS_FILE)), readAll(dir.resolve(OPTIMIZER)));
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

    /** Removes a finished run's folder (the demo reruns into the same place). */
    public static void deleteRun(Path dir) {
        try {
            deleteTree(dir);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, dir + ": cannot remove the previous run: " + e.getMessage());
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
