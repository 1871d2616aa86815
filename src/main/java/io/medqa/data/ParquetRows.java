package io.medqa.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import org.apache.parquet.ParquetReadOptions;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The rows of one parquet file as JSON objects, one row group in memory at a time, so that every
 * layout is validated by the same code as a JSONL line. Lists (the 3-level LIST of pyarrow and the
 * legacy 2-level form) become arrays, structs and maps objects, missing optional values null. Row
 * numbers count from 1 over the whole file, as lines do in JSONL.
 */
public final class ParquetRows implements Iterator<ObjectNode>, AutoCloseable {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final Path file;
    private final ParquetFileReader reader;
    private final MessageType schema;
    private RecordReader<Group> records;
    private long leftInGroup;
    private long row;

    public ParquetRows(Path file) {
        this.file = file;
        try {
            ParquetReadOptions options = ParquetReadOptions.builder(new PlainParquetConfiguration())
                    .withCodecFactory(new ParquetCodecs()).build();
            this.reader = new ParquetFileReader(new LocalInputFile(file), options);
        } catch (IOException | RuntimeException e) {
            throw new MedqaException(ExitCodes.DATA, file + ": not a readable parquet file: "
                    + MedqaException.firstLine(String.valueOf(e.getMessage())));
        }
        this.schema = reader.getFooter().getFileMetaData().getSchema();
    }

    public static boolean isParquet(Path file) {
        return file.getFileName().toString().endsWith(".parquet");
    }

    /** Rows in the file, from the footer (no data read). */
    public long rowCount() {
        return reader.getRecordCount();
    }

    /** The row number of the row last returned by {@link #next()}, from 1. */
    public long row() {
        return row;
    }

    @Override
    public boolean hasNext() {
        while (leftInGroup == 0) {
            PageReadStore pages;
            try {
                pages = reader.readNextRowGroup();
            } catch (IOException | RuntimeException e) {
                throw failure(e);
            }
            if (pages == null) {
                return false;
            }
            records = new ColumnIOFactory().getColumnIO(schema)
                    .getRecordReader(pages, new GroupRecordConverter(schema));
            leftInGroup = pages.getRowCount();
        }
        return true;
    }

    @Override
    public ObjectNode next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        Group g;
        try {
            g = records.read();
        } catch (RuntimeException e) {
            throw failure(e);
        }
        leftInGroup--;
        row++;
        return object(g);
    }

    private MedqaException failure(Exception e) {
        Throwable cause = e instanceof ParquetCodecs.UnsupportedCodecException ? e
                : e.getCause() instanceof ParquetCodecs.UnsupportedCodecException ? e.getCause() : e;
        return new MedqaException(ExitCodes.DATA, file + ":" + (row + 1) + ": cannot decode the row group: "
                + MedqaException.firstLine(String.valueOf(cause.getMessage())));
    }

    private static ObjectNode object(Group g) {
        ObjectNode out = NODES.objectNode();
        GroupType type = g.getType();
        for (int f = 0; f < type.getFieldCount(); f++) {
            Type field = type.getType(f);
            int n = g.getFieldRepetitionCount(f);
            if (field.isRepetition(Type.Repetition.REPEATED)) {
                ArrayNode a = out.putArray(field.getName());
                for (int i = 0; i < n; i++) {
                    a.add(value(g, f, i));
                }
            } else {
                out.set(field.getName(), n == 0 ? NODES.nullNode() : value(g, f, 0));
            }
        }
        return out;
    }

    private static JsonNode value(Group g, int f, int i) {
        Type field = g.getType().getType(f);
        if (field.isPrimitive()) {
            return primitive(g, f, i, field.asPrimitiveType());
        }
        Group child = g.getGroup(f, i);
        LogicalTypeAnnotation logical = field.getLogicalTypeAnnotation();
        if (logical instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation) {
            return list(child);
        }
        if (logical instanceof LogicalTypeAnnotation.MapLogicalTypeAnnotation) {
            return map(child);
        }
        return object(child);
    }

    /** LIST: one repeated field, either the element itself (2-level) or a group holding it (3-level). */
    private static ArrayNode list(Group list) {
        ArrayNode a = NODES.arrayNode();
        if (list.getType().getFieldCount() != 1) {
            a.add(object(list));
            return a;
        }
        Type repeated = list.getType().getType(0);
        int n = list.getFieldRepetitionCount(0);
        for (int i = 0; i < n; i++) {
            if (repeated.isPrimitive() || repeated.asGroupType().getFieldCount() != 1) {
                a.add(value(list, 0, i));
            } else {
                Group element = list.getGroup(0, i);
                a.add(element.getFieldRepetitionCount(0) == 0 ? NODES.nullNode() : value(element, 0, 0));
            }
        }
        return a;
    }

    private static ObjectNode map(Group map) {
        ObjectNode out = NODES.objectNode();
        int n = map.getFieldRepetitionCount(0);
        for (int i = 0; i < n; i++) {
            Group kv = map.getGroup(0, i);
            String key = value(kv, 0, 0).asText();
            out.set(key, kv.getType().getFieldCount() < 2 || kv.getFieldRepetitionCount(1) == 0
                    ? NODES.nullNode() : value(kv, 1, 0));
        }
        return out;
    }

    private static JsonNode primitive(Group g, int f, int i, PrimitiveType type) {
        return switch (type.getPrimitiveTypeName()) {
            case BINARY -> NODES.textNode(g.getBinary(f, i).toStringUsingUTF8());
            case INT32 -> NODES.numberNode(g.getInteger(f, i));
            case INT64 -> NODES.numberNode(g.getLong(f, i));
            case BOOLEAN -> NODES.booleanNode(g.getBoolean(f, i));
            case FLOAT -> NODES.numberNode(g.getFloat(f, i));
            case DOUBLE -> NODES.numberNode(g.getDouble(f, i));
            default -> NODES.textNode(g.getValueToString(f, i));
        };
    }

    @Override
    public void close() {
        try {
            reader.close();
        } catch (IOException ignored) {
            // read-only
        }
    }
}
