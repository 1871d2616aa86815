package io.medqa.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Reads multiple-choice rows (JSONL lines through {@link JsonlLines}, with its line limit, strict UTF-8
 * and a tolerated byte-order mark; or parquet rows through {@link ParquetRows}) one at a time; a file is
 * never held in memory. A bad line stops
 * the read with "FILE:LINE: what is wrong" (exit code 65) unless errors are skipped, in which case it is
 * counted and logged.
 */
public final class McqReader {

    private static final Logger LOG = LoggerFactory.getLogger(McqReader.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Files, their layout and MedMCQA's cop base, settled before the first sample is read. */
    public record Source(List<Path> files, McqFormat format, int copBase, boolean skipErrors, String note) {}

    private McqReader() {}

    /** A file path, a glob such as {@code data/medmcqa/*.jsonl}, or a folder; see {@link DataFiles}. */
    public static List<Path> expand(String spec) {
        return DataFiles.expand(spec, null);
    }

    /**
     * Settles the layout (from the first line when {@code format} is auto) and, for MedMCQA with
     * {@code copBase} auto, the cop base from the values present: a 0 or -1 means 0-based, a 4 means
     * 1-based; a file with neither cannot be told and must say.
     */
    public static Source resolve(String spec, String format, String copBase, boolean skipErrors) {
        return resolve(spec, null, format, copBase, skipErrors);
    }

    /** @param split which split's files to take when {@code spec} is a folder named by split; null for all */
    public static Source resolve(String spec, String split, String format, String copBase, boolean skipErrors) {
        return resolve(DataFiles.expand(spec, split), format, copBase, skipErrors);
    }

    /** As {@link #resolve(String, String, String, String, boolean)} for files already found. */
    public static Source resolve(List<Path> files, String format, String copBase, boolean skipErrors) {
        boolean parquet = ParquetRows.isParquet(files.get(0));
        McqFormat named = McqFormat.fromName(format);
        McqFormat fmt = named != null ? named : parquet ? ParquetDetect.format(files) : detectFormat(files, skipErrors);
        String note = (parquet ? "parquet, " : "") + "format " + fmt.id() + (named == null ? " (detected)" : "");
        int base = 0;
        if (fmt == McqFormat.MEDMCQA) {
            if (copBase.equals("auto")) {
                base = parquet ? ParquetDetect.copBase(files) : detectCopBase(files);
                note += ", cop " + base + "-based (detected: "
                        + (base == 1 ? "a cop of 4 is present" : "a cop of 0 or -1 is present") + ")";
            } else {
                base = Integer.parseInt(copBase);
                note += ", cop " + base + "-based (data.cop_base)";
            }
        }
        return new Source(files, fmt, base, skipErrors, note);
    }

    private static McqFormat detectFormat(List<Path> files, boolean skipErrors) {
        for (Path f : files) {
            try (JsonlLines lines = JsonlLines.open(f)) {
                while (true) {
                    JsonlLines.Line line;
                    try {
                        line = lines.next();
                    } catch (JsonlLines.BadLine e) {
                        if (skipErrors) {
                            continue; // counted and logged by the real read
                        }
                        throw e;
                    }
                    if (line == null) {
                        break;
                    }
                    if (line.text().isBlank()) {
                        continue;
                    }
                    JsonNode row;
                    try {
                        row = parseLine(f, line.number(), line.text());
                    } catch (MedqaException e) {
                        if (skipErrors) {
                            continue;
                        }
                        throw e;
                    }
                    McqFormat fmt = McqFormat.detect(row);
                    if (fmt == null) {
                        throw new MedqaException(ExitCodes.DATA, f + ":" + line.number() + ": neither " + McqFormat.COLUMNS
                                + "; set data.format");
                    }
                    return fmt;
                }
            }
        }
        throw new MedqaException(ExitCodes.DATA, files.get(0) + ": the dataset is empty");
    }

    private static int detectCopBase(List<Path> files) {
        boolean zero = false;
        boolean four = false;
        for (Path f : files) {
            try (JsonlLines lines = JsonlLines.open(f)) {
                while (true) {
                    String line;
                    try {
                        JsonlLines.Line l = lines.next();
                        if (l == null) {
                            break;
                        }
                        line = l.text();
                    } catch (JsonlLines.BadLine e) {
                        continue; // reported (or skipped) by the real read
                    }
                    // A cheap scan: full parsing and its errors come with the real read.
                    int i = line.indexOf("\"cop\"");
                    if (i < 0) {
                        continue;
                    }
                    int j = line.indexOf(':', i) + 1;
                    while (j > 0 && j < line.length() && line.charAt(j) == ' ') {
                        j++;
                    }
                    if (j <= 0 || j >= line.length()) {
                        continue;
                    }
                    zero |= line.startsWith("0", j) && !Character.isDigit(charAt(line, j + 1)) || line.startsWith("-1", j);
                    four |= line.startsWith("4", j) && !Character.isDigit(charAt(line, j + 1));
                }
            }
        }
        return copBase(zero, four, files.get(0));
    }

    /** The cop base from what values were seen, or a one-line error when they cannot tell. */
    static int copBase(boolean zero, boolean four, Path first) {
        if (zero && four) {
            throw new MedqaException(ExitCodes.DATA, first + ": cop takes both 0 and 4, so it is neither "
                    + "0- nor 1-based; check the file or set data.cop_base");
        }
        if (!zero && !four) {
            throw new MedqaException(ExitCodes.DATA, first + ": cannot tell whether cop is 0-based "
                    + "(Hugging Face export) or 1-based (original release): no cop of 0 or 4; set data.cop_base");
        }
        return four ? 1 : 0;
    }

    private static char charAt(String s, int i) {
        return i < s.length() ? s.charAt(i) : ' ';
    }

    static JsonNode parseLine(Path file, long line, String text) {
        try {
            JsonNode row = JSON.readTree(text);
            if (row == null || !row.isObject()) {
                throw new MedqaException(ExitCodes.DATA, file + ":" + line + ": not a JSON object");
            }
            return row;
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, file + ":" + line + ": malformed JSON: "
                    + MedqaException.firstLine(e.getOriginalMessage()));
        }
    }

    /** Opens a lazy pass over the source's samples, in file order. */
    public static Samples open(Source source) {
        return new Samples(source);
    }

    /** An iterator over samples, counting what was skipped; close it to release the file. */
    public static final class Samples implements Iterator<McqSample>, AutoCloseable {
        private final Source source;
        private int fileIndex = -1;
        private JsonlLines lines;
        private long line;
        private McqSample next;
        private long skipped;
        /** Parquet sources (never mixed with JSONL: DataFiles refuses that) read through {@link ParquetRows}. */
        private final boolean parquet;
        private ParquetRows rows;
        private long emptyOptions;

        Samples(Source source) {
            this.source = source;
            this.parquet = ParquetRows.isParquet(source.files().get(0));
        }

        public long skipped() {
            return skipped;
        }

        @Override
        public boolean hasNext() {
            if (parquet) {
                return parquetHasNext();
            }
            while (next == null) {
                if (lines == null) {
                    if (++fileIndex >= source.files().size()) {
                        return false;
                    }
                    lines = JsonlLines.open(source.files().get(fileIndex));
                }
                JsonlLines.Line l;
                try {
                    l = lines.next();
                } catch (JsonlLines.BadLine e) {
                    fail(e.getMessage());
                    continue;
                }
                if (l == null) {
                    lines.close();
                    lines = null;
                    continue;
                }
                line = l.number();
                if (!l.text().isBlank()) {
                    next = parse(l.text());
                }
            }
            return true;
        }

        private McqSample parse(String text) {
            Path file = source.files().get(fileIndex);
            try {
                JsonNode row = parseLine(file, line, text);
                McqSample sample = source.format().parse(row, source.copBase(), file.toString(), line);
                for (int i = 0; i < sample.options().size(); i++) {
                    if (sample.options().get(i).isBlank() && ++emptyOptions <= 10) {
                        LOG.warn("{}:{}: option {} is empty", file, line, McqSample.LETTERS.charAt(i));
                    }
                }
                return sample;
            } catch (McqFormat.RowException e) {
                return fail(file + ":" + line + ": " + e.getMessage());
            } catch (MedqaException e) {
                return fail(e.getMessage());
            }
        }

        private McqSample fail(String message) {
            if (!source.skipErrors()) {
                throw new MedqaException(ExitCodes.DATA, message);
            }
            skipped++;
            if (skipped <= 10) {
                LOG.warn("skipped {}", message);
            }
            return null;
        }

        @Override
        public McqSample next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            McqSample s = next;
            next = null;
            return s;
        }

        /** As {@link #hasNext()} for parquet files: a row at a time, the next file when one ends. */
        private boolean parquetHasNext() {
            while (next == null) {
                if (rows == null) {
                    if (++fileIndex >= source.files().size()) {
                        return false;
                    }
                    rows = new ParquetRows(source.files().get(fileIndex));
                }
                if (!rows.hasNext()) {
                    rows.close();
                    rows = null;
                    continue;
                }
                JsonNode row = rows.next();
                Path file = source.files().get(fileIndex);
                try {
                    next = source.format().parse(row, source.copBase(), file.toString(), rows.row());
                } catch (McqFormat.RowException e) {
                    next = fail(file + ":" + rows.row() + ": " + e.getMessage());
                }
            }
            return true;
        }

        @Override
        public void close() {
            if (rows != null) {
                rows.close();
            }
            if (lines != null) {
                lines.close();
            }
        }
    }

    /** Every sample of the source, for small files and tests. */
    public static List<McqSample> readAll(Source source) {
        List<McqSample> out = new ArrayList<>();
        try (Samples s = open(source)) {
            s.forEachRemaining(out::add);
        }
        return out;
    }
}
