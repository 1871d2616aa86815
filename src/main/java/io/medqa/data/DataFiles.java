package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What a data path names: one file, a glob ({@code data/medmcqa/*.parquet}, matches sorted by name),
 * or a folder such as {@code medqa download --dataset} writes, searched recursively for .parquet and
 * .jsonl files. In a folder holding several splits, the split is read from the file names the way
 * Hugging Face {@code datasets} does ({@code train-00000-of-00001.parquet}, {@code dev.jsonl},
 * {@code medqa_usmle4_test.jsonl}): "dev", "val" and "valid" mean validation.
 */
public final class DataFiles {

    private static final Pattern SPLIT = Pattern.compile("(?:^|[^a-z])(train|validation|valid|val|dev|test)(?:[^a-z]|$)");

    private DataFiles() {}

    /**
     * @param split train, validation or test: the files of that split when {@code spec} is a folder
     *              whose files are named by split; null for all of them
     */
    public static List<Path> expand(String spec, String split) {
        Path path = Path.of(spec);
        if (Files.isDirectory(path)) {
            return inFolder(path, split);
        }
        if (!spec.contains("*") && !spec.contains("?") && !spec.contains("[")) {
            if (!Files.isRegularFile(path)) {
                throw new MedqaException(ExitCodes.NO_INPUT, spec + ": file not found");
            }
            return List.of(path);
        }
        Path dir = path.getParent() == null ? Path.of(".") : path.getParent();
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + path.getFileName());
        List<Path> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.filter(f -> matcher.matches(f.getFileName()) && Files.isRegularFile(f)).sorted().toList();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, spec + ": cannot list " + dir + ": " + e.getMessage());
        }
        if (files.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, spec + ": no file matches");
        }
        return oneKind(spec, files);
    }

    /** The split a file name names (train, validation, test), or null. */
    public static String splitOf(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        Matcher m = SPLIT.matcher(name);
        if (!m.find()) {
            return null;
        }
        return switch (m.group(1)) {
            case "train" -> "train";
            case "test" -> "test";
            default -> "validation";
        };
    }

    /** Data files under {@code dir} (any depth, hidden and partial downloads left out), sorted by path. */
    public static List<Path> dataFilesUnder(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile)
                    .filter(f -> !dir.relativize(f).toString().startsWith(".") && !f.getFileName().toString().startsWith("."))
                    .filter(f -> f.toString().endsWith(".parquet") || f.toString().endsWith(".jsonl"))
                    .sorted().toList();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, dir + ": cannot list: " + e.getMessage());
        }
    }

    /** The first row of a data file (the first non-blank JSONL line), or null when it has none. */
    public static com.fasterxml.jackson.databind.JsonNode firstRow(Path file) {
        if (ParquetRows.isParquet(file)) {
            try (ParquetRows rows = new ParquetRows(file)) {
                return rows.hasNext() ? rows.next() : null;
            }
        }
        try (java.io.BufferedReader r = Files.newBufferedReader(file, java.nio.charset.StandardCharsets.UTF_8)) {
            String line;
            long n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (!line.isBlank()) {
                    return McqReader.parseLine(file, n, line);
                }
            }
            return null;
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
    }

    private static List<Path> inFolder(Path dir, String split) {
        List<Path> all = dataFilesUnder(dir);
        if (all.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, dir + ": no .parquet or .jsonl file in the folder");
        }
        List<Path> named = all.stream().filter(f -> splitOf(f) != null).toList();
        if (split == null || named.isEmpty()) {
            return oneKind(dir.toString(), all);
        }
        List<Path> files = named.stream().filter(f -> split.equals(splitOf(f))).toList();
        if (files.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, dir + ": no " + split + " file in the folder (files are named "
                    + "by split: " + all.stream().map(f -> dir.relativize(f).toString()).limit(5).toList() + ")");
        }
        return oneKind(dir.toString(), files);
    }

    private static List<Path> oneKind(String spec, List<Path> files) {
        long parquet = files.stream().filter(ParquetRows::isParquet).count();
        if (parquet > 0 && parquet < files.size()) {
            throw new MedqaException(ExitCodes.DATA, spec + ": mixes parquet and JSONL files; name one kind");
        }
        return files;
    }
}
