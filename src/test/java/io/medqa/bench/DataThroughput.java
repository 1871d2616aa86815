package io.medqa.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.data.SampleEncoder;
import io.medqa.model.QwenTokenizer;
import io.medqa.testing.ParquetFixtures;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;

import java.io.BufferedWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Benchmark, not a test (run by scripts/bench-data): reading and tokenizing a MedMCQA-train-sized file.
 * Builds ROWS rows by repeating a real MedMCQA JSONL file's rows (fresh ids), as JSONL and as snappy
 * parquet, then streams each through the training path (read, validate, chat prompt + target
 * tokenized by SampleEncoder) after a pass that only reads and validates, printing rows/s and the
 * peak Java heap of each pass.
 *
 * <p>Arguments: SOURCE.jsonl TOKENIZER_DIR ROWS WORK_DIR.
 */
public final class DataThroughput {

    private DataThroughput() {}

    public static void main(String[] args) throws Exception {
        Path source = Path.of(args[0]);
        Path tokenizerDir = Path.of(args[1]);
        int rows = Integer.parseInt(args[2]);
        Path work = Files.createDirectories(Path.of(args[3]));
        ObjectMapper json = new ObjectMapper();
        List<String> lines = Files.readAllLines(source).stream().filter(l -> !l.isBlank()).toList();
        Path jsonl = work.resolve("medmcqa-train-sized.jsonl");
        Path parquet = work.resolve("train-00000-of-00001.parquet");
        if (!Files.isRegularFile(parquet)) {
            try (BufferedWriter w = Files.newBufferedWriter(jsonl, StandardCharsets.UTF_8)) {
                for (int i = 0; i < rows; i++) {
                    w.write(row(json, lines, i, false).toString());
                    w.newLine();
                }
            }
            // Row groups of 16 MB: the reader holds one at a time, whatever the file's size.
            Iterable<ObjectNode> hubRows = () -> java.util.stream.IntStream.range(0, rows)
                    .mapToObj(i -> row(json, lines, i, true)).iterator();
            ParquetFixtures.write(parquet, ParquetFixtures.MEDMCQA, hubRows, CompressionCodecName.SNAPPY, 16L << 20);
        }
        System.out.printf(Locale.ROOT, "files: %s (%.1f MB), %s (%.1f MB); %d rows%n", jsonl, Files.size(jsonl) / 1e6,
                parquet, Files.size(parquet) / 1e6, rows);
        try (QwenTokenizer tokenizer = QwenTokenizer.load(tokenizerDir)) {
            // Reading and validating alone first, then the training path with tokenization.
            for (Path f : List.of(jsonl, parquet)) {
                pass(f, null);
            }
            for (Path f : List.of(jsonl, parquet)) {
                pass(f, tokenizer);
            }
        }
    }

    /** Row i: source row i mod n with a fresh id; as the Hub's export (cop 0-based, its columns) when asked. */
    private static ObjectNode row(ObjectMapper json, List<String> lines, int i, boolean hub) {
        try {
            ObjectNode row = (ObjectNode) json.readTree(lines.get(i % lines.size()));
            row.put("id", "bench-" + i);
            if (hub) {
                row.put("cop", row.get("cop").asInt() - 1);
                row.retain("id", "question", "opa", "opb", "opc", "opd", "cop", "choice_type", "exp", "subject_name",
                        "topic_name");
            }
            return row;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void pass(Path file, QwenTokenizer tokenizer) {
        System.gc();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            pool.resetPeakUsage();
        }
        SampleEncoder encoder = tokenizer == null ? null : new SampleEncoder(tokenizer, 1024, "truncate");
        McqReader.Source src = McqReader.resolve(file.toString(), "auto", "auto", false);
        long n = 0;
        long tokens = 0;
        long t0 = System.nanoTime();
        try (McqReader.Samples samples = McqReader.open(src)) {
            while (samples.hasNext()) {
                McqSample s = samples.next();
                SampleEncoder.Encoded e = encoder == null ? null : encoder.encode(s);
                if (e != null) {
                    tokens += e.ids().length;
                }
                n++;
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                peak += pool.getPeakUsage().getUsed();
            }
        }
        System.out.printf(Locale.ROOT, "%-8s %-9s %d rows, %d tokens in %.1f s: %.0f rows/s, peak heap %.0f MB (max %.0f MB), %s%n",
                file.toString().endsWith(".parquet") ? "parquet" : "jsonl", encoder == null ? "read" : "tokenize", n, tokens, seconds, n / seconds, peak / 1e6,
                Runtime.getRuntime().maxMemory() / 1e6, src.note());
    }
}
