package io.medqa.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.Json;
import io.medqa.lora.LoraAdapter;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * A training run's output folder and its identity. Each run gets a run_id, written to run.json and to
 * every checkpoint's trainer_state.json: a fresh run refuses a folder that holds another run (unless
 * told to overwrite it), and a resume refuses a checkpoint of another run or a run that is complete.
 * Without this, a fresh run into an old run's folder pruned its own newer checkpoints by step number and
 * a later --resume picked the old run's checkpoint and overwrote the finished adapter.
 */
public final class RunFolder {

    public static final String RUN_JSON = "run.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Where --overwrite keeps the previous run until the new one has passed its setup. */
    static final String OVERWRITTEN = ".medqa-overwritten";

    private final Path dir;
    private final boolean existed;
    private final Set<Path> before;
    private final Path overwritten;

    private RunFolder(Path dir, boolean existed, Set<Path> before, Path overwritten) {
        this.dir = dir;
        this.existed = existed;
        this.before = before;
        this.overwritten = overwritten;
    }

    public static String newId() {
        return UUID.randomUUID().toString();
    }

    /** True when {@code dir} holds a run's outputs: run.json, a checkpoint or an adapter. */
    public static boolean holdsRun(Path dir) {
        return Files.isRegularFile(dir.resolve(RUN_JSON)) || !Checkpoints.list(dir).isEmpty()
                || Files.isRegularFile(dir.resolve(LoraAdapter.WEIGHTS_FILE));
    }

    /** The run folder a --resume argument names: the folder itself, or the folder around a checkpoint. */
    public static Path of(Path resumeArgument) {
        if (Files.isRegularFile(resumeArgument.resolve(Checkpoints.STATE)) && resumeArgument.toAbsolutePath().getParent() != null) {
            return resumeArgument.toAbsolutePath().normalize().getParent();
        }
        return resumeArgument;
    }

    /** run.json's fields, or null when the folder has none. */
    public static ObjectNode runJson(Path dir) {
        Path file = dir.resolve(RUN_JSON);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (!(n instanceof ObjectNode o)) {
                throw new MedqaException(ExitCodes.DATA, file + ": not a JSON object");
            }
            return o;
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": not valid JSON: " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
    }

    /**
     * Prepares {@code dir} for a fresh run: refuses a folder holding another run unless {@code overwrite}.
     * With it, the folder's whole content is moved aside, to be deleted by {@link #discardOverwritten()}
     * once the new run has started, or put back by {@link #removeCreated()} if its setup fails: a typo in
     * the new run's data must not cost the old run. Creates the folder.
     */
    public static RunFolder fresh(Path dir, boolean overwrite) {
        if (Files.isDirectory(dir) && holdsRun(dir)) {
            if (!overwrite) {
                throw new MedqaException(ExitCodes.IO, dir + ": holds another run (" + describe(dir) + "); resume it with "
                        + "--resume " + shellQuote(dir.toString()) + ", choose another output.dir, or pass --overwrite to "
                        + "delete it and start afresh");
            }
            Path aside = dir.resolve(OVERWRITTEN);
            try {
                Checkpoints.deleteTree(aside);
                Files.createDirectories(aside);
                try (Stream<Path> s = Files.list(dir)) {
                    for (Path p : s.toList()) {
                        if (!p.equals(aside)) {
                            Files.move(p, aside.resolve(p.getFileName()));
                        }
                    }
                }
            } catch (IOException e) {
                throw new MedqaException(ExitCodes.IO, dir + ": cannot set the previous run aside: " + e.getMessage());
            }
            RunFolder opened = open(dir);
            opened.before.add(aside);
            return new RunFolder(dir, true, opened.before, aside);
        }
        return open(dir);
    }

    /** Deletes the run that --overwrite set aside (the new one has started). */
    public void discardOverwritten() {
        if (overwritten == null) {
            return;
        }
        try {
            Checkpoints.deleteTree(overwritten);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, overwritten + ": cannot remove the previous run: " + e.getMessage());
        }
    }

    /** Opens an existing or new folder for a resumed run. */
    public static RunFolder open(Path dir) {
        boolean existed = Files.exists(dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw cannotWrite(dir, e);
        }
        if (!Files.isWritable(dir)) {
            throw new MedqaException(ExitCodes.IO, dir + ": the output folder is not writable (read-only file system "
                    + "or permissions)");
        }
        Set<Path> before = new HashSet<>();
        if (existed) {
            try (Stream<Path> s = Files.list(dir)) {
                s.forEach(before::add);
            } catch (IOException e) {
                throw cannotWrite(dir, e);
            }
        }
        return new RunFolder(dir, existed, before, null);
    }

    /**
     * A resume from {@code checkpoint} into this folder: the checkpoint must be of this folder's run.
     * @return null to go on, or a message saying the run is already complete (nothing to do)
     */
    public static String checkResume(Path dir, Path checkpoint) {
        ObjectNode run = runJson(dir);
        if (run == null) {
            return null; // a checkpoint copied into a fresh folder: nothing to conflict with
        }
        if ("completed".equals(run.path("status").asText())) {
            return dir + ": the run is complete (" + run.path("steps").asText("?") + " steps, adapter in " + dir
                    + "); nothing to resume. Train again into another output.dir, or pass --overwrite instead of --resume";
        }
        TrainerState state = Checkpoints.readState(checkpoint);
        String folderId = run.path("run_id").isTextual() ? run.get("run_id").asText() : null;
        String checkpointId = state.runId();
        if (folderId != null ? !folderId.equals(checkpointId) : checkpointId != null) {
            throw new MedqaException(ExitCodes.DATA, checkpoint + ": this checkpoint belongs to another run (run_id "
                    + checkpointId + ") than " + dir.resolve(RUN_JSON) + " (run_id " + folderId + "); resume from one of "
                    + dir + "'s own checkpoints, or use a fresh output.dir");
        }
        return null;
    }

    /** A path as one shell word, quoted only when it needs to be, for commands medqa prints. */
    public static String shellQuote(String s) {
        return s.matches("[A-Za-z0-9_./:=@%+-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    public Path dir() {
        return dir;
    }

    /**
     * Undoes what a run that failed before its first step left here: the files it created (config.yaml,
     * train.log, run.json), the folder itself when it was new; a run set aside by --overwrite is put
     * back. Nothing that was there before is touched.
     */
    public void removeCreated() {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (!before.contains(p)) {
                    Checkpoints.deleteTree(p);
                }
            }
            if (overwritten != null) {
                try (Stream<Path> kept = Files.list(overwritten)) {
                    for (Path p : kept.toList()) {
                        Files.move(p, dir.resolve(p.getFileName()));
                    }
                }
                Files.delete(overwritten);
            }
            if (!existed) {
                Files.deleteIfExists(dir);
            }
        } catch (IOException e) {
            // best effort: the original error is the one to report
        }
    }

    private static String describe(Path dir) {
        List<String> what = new ArrayList<>();
        ObjectNode run = runJson(dir);
        if (run != null) {
            what.add("run.json, status " + run.path("status").asText("unknown"));
        }
        List<Path> checkpoints = Checkpoints.list(dir);
        if (!checkpoints.isEmpty()) {
            what.add(checkpoints.size() + " checkpoint(s) up to " + checkpoints.get(checkpoints.size() - 1).getFileName());
        }
        if (Files.isRegularFile(dir.resolve(LoraAdapter.WEIGHTS_FILE))) {
            what.add("a final adapter");
        }
        return String.join(", ", what);
    }

    /** A folder that cannot be made: a file in its place, a read-only file system, no permission. */
    static MedqaException cannotWrite(Path dir, IOException e) {
        String why;
        if (e instanceof java.nio.file.FileAlreadyExistsException f) {
            why = f.getFile() + " is a file, not a folder";
        } else if (e instanceof java.nio.file.NoSuchFileException) {
            why = "no such folder can be made there";
        } else if (e instanceof AccessDeniedException) {
            why = "permission denied";
        } else if (e instanceof FileSystemException f && f.getReason() != null) {
            why = f.getReason();
        } else {
            why = e.getMessage();
        }
        return new MedqaException(ExitCodes.IO, dir + ": cannot create the output folder: " + why, e);
    }
}
