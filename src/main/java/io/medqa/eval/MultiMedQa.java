package io.medqa.eval;

import com.fasterxml.jackson.databind.JsonNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.data.DataFiles;
import io.medqa.data.McqFormat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The multiple-choice part of MultiMedQA (Singhal et al. 2023, the Med-PaLM suite), as
 * lm-evaluation-harness's multimedqa group runs it: pubmedqa, medmcqa, medqa_4options and six MMLU
 * subjects. Sets are found under a data folder by their columns (not by folder names, which users
 * choose), then the split the harness evaluates is taken from the file names: medmcqa's validation
 * (its test labels are hidden), PubMedQA PQA-L's only split (the harness's test_split is train) or its
 * test split where one exists, and test for the others. A folder with files not named by split is
 * taken whole.
 */
public final class MultiMedQa {

    /** The harness's task names, in the order the table lists them. */
    public static final List<String> SETS = List.of("pubmedqa", "medmcqa", "medqa_4options", "medqa_5options",
            "mmlu_anatomy", "mmlu_clinical_knowledge", "mmlu_college_biology", "mmlu_college_medicine",
            "mmlu_medical_genetics", "mmlu_professional_medicine");

    /** One set to evaluate: its files (one split) and layout. */
    public record Set(String name, McqFormat format, String split, List<Path> files) {}

    private MultiMedQa() {}

    /** The sets found under {@code dir}, in {@link #SETS} order; files of other datasets are listed in {@code skipped}. */
    public static List<Set> discover(Path dir, List<String> skipped) {
        Map<String, List<Path>> byName = new TreeMap<>();
        Map<String, McqFormat> formats = new LinkedHashMap<>();
        for (Path f : DataFiles.dataFilesUnder(dir)) {
            JsonNode row = DataFiles.firstRow(f);
            McqFormat format = row == null ? null : McqFormat.detect(row);
            String name = format == null ? null : setName(format, row, f);
            if (name == null) {
                skipped.add(dir.relativize(f).toString());
                continue;
            }
            byName.computeIfAbsent(name, k -> new ArrayList<>()).add(f);
            formats.putIfAbsent(name, format);
        }
        List<Set> sets = new ArrayList<>();
        for (String name : SETS) {
            List<Path> files = byName.get(name);
            if (files == null) {
                continue;
            }
            String split = chooseSplit(name, files);
            List<Path> chosen = files.stream().filter(f -> split == null || split.equals(DataFiles.splitOf(f))).toList();
            sets.add(new Set(name, formats.get(name), split, chosen));
        }
        if (sets.isEmpty()) {
            throw new MedqaException(ExitCodes.NO_INPUT, dir + ": no MultiMedQA set found (MedMCQA, MedQA, PubMedQA "
                    + "or MMLU's anatomy, clinical_knowledge, college_biology, college_medicine, medical_genetics, "
                    + "professional_medicine)");
        }
        return sets;
    }

    /** The harness's task name for a file, from its first row, or null for sets outside the suite. */
    static String setName(McqFormat format, JsonNode row, Path file) {
        return switch (format) {
            case MEDMCQA -> "medmcqa";
            case MEDQA -> "medqa_" + row.path("options").size() + "options";
            case MEDQA_HF -> row.hasNonNull("ending4") ? "medqa_5options" : "medqa_4options";
            case PUBMEDQA -> "pubmedqa";
            case MMLU -> {
                // cais/mmlu keeps one subject per folder (anatomy/test-....parquet) and a subject column.
                String subject = row.hasNonNull("subject") && !row.get("subject").asText().isBlank()
                        ? row.get("subject").asText() : file.getParent() == null ? "" : file.getParent().getFileName().toString();
                String name = "mmlu_" + subject;
                yield SETS.contains(name) ? name : null;
            }
        };
    }

    private static String chooseSplit(String name, List<Path> files) {
        List<String> present = files.stream().map(DataFiles::splitOf).distinct().toList();
        if (present.contains(null)) {
            if (present.size() > 1) {
                throw new MedqaException(ExitCodes.DATA, name + ": some files are named by split and some not: "
                        + files);
            }
            return null;
        }
        List<String> preference = switch (name) {
            case "medmcqa" -> List.of("validation");
            case "pubmedqa" -> List.of("test", "train");
            default -> List.of("test");
        };
        for (String split : preference) {
            if (present.contains(split)) {
                return split;
            }
        }
        throw new MedqaException(ExitCodes.NO_INPUT, name + ": no " + String.join(" or ", preference)
                + " split among " + files + " (the harness evaluates that split)");
    }
}
