package io.medqa.model;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.nio.file.Files;
import java.nio.file.Path;

/** The checks every reader of a Hugging Face model folder makes first, so a wrong path is named as such. */
public final class ModelFolder {

    private ModelFolder() {}

    /** Refuses a model folder that does not exist or is a file (exit code 66). */
    public static void require(Path dir) {
        if (Files.isDirectory(dir)) {
            return;
        }
        throw new MedqaException(ExitCodes.NO_INPUT, dir + (Files.exists(dir)
                ? ": not a folder (a Hugging Face model folder holds config.json, tokenizer.json and *.safetensors)"
                : ": model folder not found"));
    }

    /**
     * The file a weight index names, resolved inside {@code dir}: absolute names, {@code ..} and
     * links leading out of the folder are refused, as a shard listed in an index is only ever a file
     * name next to it (transformers joins it to the folder and never follows it elsewhere).
     */
    public static Path shard(Path dir, Path index, String name) {
        if (name.isEmpty() || name.indexOf('\0') >= 0) {
            throw outside(index, name);
        }
        Path relative;
        try {
            relative = Path.of(name);
        } catch (java.nio.file.InvalidPathException e) {
            throw outside(index, name);
        }
        if (relative.isAbsolute() || relative.getRoot() != null) {
            throw outside(index, name);
        }
        for (Path part : relative) {
            if (part.toString().equals("..") || part.toString().equals(".")) {
                throw outside(index, name);
            }
        }
        Path file = dir.resolve(relative);
        if (Files.exists(file)) {
            try {
                if (!file.toRealPath().startsWith(dir.toRealPath())) {
                    throw outside(index, name);
                }
            } catch (java.io.IOException e) {
                throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
            }
        }
        return file;
    }

    private static MedqaException outside(Path index, String name) {
        return new MedqaException(ExitCodes.DATA, index + ": refusing shard \"" + name
                + "\": a shard must be a file inside the model folder (no absolute path, no \"..\", no link out)");
    }
}
