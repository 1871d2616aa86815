package io.medqa.testing;

import com.fasterxml.jackson.databind.JsonNode;
import io.medqa.data.ParquetCodecs;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.parquet.schema.Type;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Parquet files for tests, written with parquet-java's own writer in the shapes pyarrow gives the
 * Hub's files: strings as optional binary (STRING), integers int64, lists as the 3-level LIST
 * ({@code list.element}), dicts as structs. Rows are given as JSON objects.
 */
public final class ParquetFixtures {

    /** The Hub's MedMCQA export. */
    public static final String MEDMCQA = "message schema { optional binary id (STRING); optional binary question (STRING); "
            + "optional binary opa (STRING); optional binary opb (STRING); optional binary opc (STRING); "
            + "optional binary opd (STRING); optional int64 cop; optional binary choice_type (STRING); "
            + "optional binary exp (STRING); optional binary subject_name (STRING); optional binary topic_name (STRING); }";

    /** MedQA-USMLE 4-options: options a struct of A..D. */
    public static final String MEDQA = "message schema { optional binary question (STRING); optional binary answer (STRING); "
            + "optional group options { optional binary A (STRING); optional binary B (STRING); optional binary C (STRING); "
            + "optional binary D (STRING); } optional binary meta_info (STRING); optional binary answer_idx (STRING); }";

    /** MedQA-USMLE-4-options-hf, the export lm-eval reads. */
    public static final String MEDQA_HF = "message schema { optional binary id (STRING); optional binary sent1 (STRING); "
            + "optional binary sent2 (STRING); optional binary ending0 (STRING); optional binary ending1 (STRING); "
            + "optional binary ending2 (STRING); optional binary ending3 (STRING); optional int64 label; }";

    /** PubMedQA pqa_labeled. */
    public static final String PUBMEDQA = "message schema { optional int32 pubid; optional binary question (STRING); "
            + "optional group context { optional group contexts (LIST) { repeated group list { optional binary element (STRING); } } "
            + "optional group labels (LIST) { repeated group list { optional binary element (STRING); } } } "
            + "optional binary long_answer (STRING); optional binary final_decision (STRING); }";

    /** cais/mmlu. */
    public static final String MMLU = "message schema { optional binary question (STRING); optional binary subject (STRING); "
            + "optional group choices (LIST) { repeated group list { optional binary element (STRING); } } optional int64 answer; }";

    private ParquetFixtures() {}

    /** Writes {@code rows}; with {@code rowGroupPerRow}, every row is a row group of its own. */
    public static Path write(Path file, String schema, Iterable<? extends JsonNode> rows, CompressionCodecName codec,
                             boolean rowGroupPerRow) throws IOException {
        return write(file, schema, rows, codec, rowGroupPerRow ? 1L : ParquetWriter.DEFAULT_BLOCK_SIZE);
    }

    /** Writes {@code rows} (consumed one at a time) in row groups of about {@code rowGroupBytes}. */
    public static Path write(Path file, String schema, Iterable<? extends JsonNode> rows, CompressionCodecName codec,
                             long rowGroupBytes) throws IOException {
        MessageType type = MessageTypeParser.parseMessageType(schema);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.deleteIfExists(file);
        ExampleParquetWriter.Builder builder = ExampleParquetWriter.builder(new LocalOutputFile(file))
                .withType(type)
                .withConf(new PlainParquetConfiguration())
                .withCodecFactory(new ParquetCodecs())
                .withCompressionCodec(codec);
        builder.withRowGroupSize(rowGroupBytes);
        if (rowGroupBytes == 1L) {
            // The size check runs after every row, and any data exceeds one byte: one row group per row.
            builder.withMinRowCountForPageSizeCheck(1).withMaxRowCountForPageSizeCheck(1);
        }
        SimpleGroupFactory groups = new SimpleGroupFactory(type);
        try (ParquetWriter<Group> w = builder.build()) {
            for (JsonNode row : rows) {
                Group g = groups.newGroup();
                fill(g, type, row);
                w.write(g);
            }
        }
        return file;
    }

    public static Path write(Path file, String schema, List<? extends JsonNode> rows) throws IOException {
        return write(file, schema, rows, CompressionCodecName.SNAPPY, false);
    }

    private static void fill(Group g, GroupType type, JsonNode row) {
        for (Iterator<Map.Entry<String, JsonNode>> it = row.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().isNull()) {
                continue;
            }
            Type field = type.getType(e.getKey());
            put(g, field, e.getKey(), e.getValue());
        }
    }

    private static void put(Group g, Type field, String name, JsonNode v) {
        if (field.isPrimitive()) {
            switch (field.asPrimitiveType().getPrimitiveTypeName()) {
                case INT32 -> g.append(name, v.asInt());
                case INT64 -> g.append(name, v.asLong());
                case BOOLEAN -> g.append(name, v.asBoolean());
                case DOUBLE -> g.append(name, v.asDouble());
                default -> g.append(name, v.asText());
            }
            return;
        }
        Group child = g.addGroup(name);
        if (field.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation) {
            Type element = field.asGroupType().getType(0).asGroupType().getType(0);
            for (JsonNode item : v) {
                Group entry = child.addGroup(0);
                if (!item.isNull()) {
                    put(entry, element, element.getName(), item);
                }
            }
            return;
        }
        fill(child, field.asGroupType(), v);
    }
}
