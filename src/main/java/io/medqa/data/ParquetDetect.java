package io.medqa.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.nio.file.Path;
import java.util.List;

/** Layout and MedMCQA cop base of parquet files, settled before the first sample is read. */
final class ParquetDetect {

    private ParquetDetect() {}

    /** The layout of the first row. */
    static McqFormat format(List<Path> files) {
        for (Path f : files) {
            try (ParquetRows rows = new ParquetRows(f)) {
                if (rows.hasNext()) {
                    ObjectNode row = rows.next();
                    McqFormat fmt = McqFormat.detect(row);
                    if (fmt == null) {
                        throw new MedqaException(ExitCodes.DATA, f + ":1: neither " + McqFormat.COLUMNS
                                + "; columns are " + fieldNames(row) + "; set data.format");
                    }
                    return fmt;
                }
            }
        }
        throw new MedqaException(ExitCodes.DATA, files.get(0) + ": the dataset is empty");
    }

    /** As for JSONL: a cop of 0 or -1 means 0-based (the Hub export), a 4 means 1-based. */
    static int copBase(List<Path> files) {
        boolean zero = false;
        boolean four = false;
        for (Path f : files) {
            try (ParquetRows rows = new ParquetRows(f)) {
                while (rows.hasNext()) {
                    JsonNode cop = rows.next().get("cop");
                    if (cop != null && cop.isIntegralNumber()) {
                        zero |= cop.asInt() == 0 || cop.asInt() == -1;
                        four |= cop.asInt() == 4;
                    }
                }
            }
        }
        return McqReader.copBase(zero, four, files.get(0));
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new java.util.ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
