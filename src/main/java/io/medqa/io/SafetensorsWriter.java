package io.medqa.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects float tensors and writes them as one safetensors file, atomically. Tensors are stored in the
 * order added, each as F32, F16 or BF16 (converted from the float values given).
 */
public final class SafetensorsWriter {

    private record Entry(String name, String dtype, long[] shape, float[] values) {}

    /** A tensor's name, dtype and shape, for a file written one tensor at a time. */
    public record Spec(String name, String dtype, long[] shape) {
        long bytes() {
            long n = SafetensorsFile.bytesPerElement(dtype);
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** Writes the data of one tensor (exactly its byte size) to the stream. */
    @FunctionalInterface
    public interface TensorData {
        void write(Spec spec, OutputStream out) throws IOException;
    }

    /**
     * Writes a safetensors file whose tensors are produced one at a time, so a file larger than memory can
     * be written; atomically, like {@link #write}.
     */
    public static void writeStreaming(Path target, Map<String, String> metadata, List<Spec> specs, TensorData data) {
        AtomicFiles.write(target, out -> {
            byte[] header = header(metadata, specs);
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            for (Spec s : specs) {
                CountingStream counted = new CountingStream(out);
                data.write(s, counted);
                if (counted.count != s.bytes()) {
                    throw new IOException("tensor " + s.name() + ": wrote " + counted.count + " bytes, expected " + s.bytes());
                }
            }
        });
    }

    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor; {@code dtype} is F32, F16 or BF16 and values are in row-major order. */
    public SafetensorsWriter add(String name, String dtype, long[] shape, float[] values) {
        long numel = 1;
        for (long d : shape) {
            numel *= d;
        }
        if (numel != values.length) {
            throw new IllegalArgumentException(name + ": shape holds " + numel + " values, got " + values.length);
        }
        if (SafetensorsFile.bytesPerElement(dtype) < 0 || dtype.startsWith("I") || dtype.startsWith("U")) {
            throw new IllegalArgumentException(name + ": cannot write dtype " + dtype);
        }
        entries.add(new Entry(name, dtype, shape.clone(), values));
        return this;
    }

    byte[] header() {
        List<Spec> specs = new ArrayList<>();
        entries.forEach(e -> specs.add(new Spec(e.name(), e.dtype(), e.shape())));
        return header(metadata, specs);
    }

    /** The header bytes, padded with spaces to a multiple of 8 as the reference writer does. */
    static byte[] header(Map<String, String> metadata, List<Spec> specs) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Spec e : specs) {
            long size = e.bytes();
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            out[i] = ' ';
        }
        return out;
    }

    public void write(Path target) {
        AtomicFiles.write(target, this::writeTo);
    }

    private void writeTo(OutputStream out) throws IOException {
        byte[] header = header();
        ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
        out.write(length.array());
        out.write(header);
        for (Entry e : entries) {
            int width = SafetensorsFile.bytesPerElement(e.dtype());
            ByteBuffer data = ByteBuffer.allocate(e.values().length * width).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : e.values()) {
                switch (e.dtype()) {
                    case "F32" -> data.putFloat(v);
                    case "F16" -> data.putShort(HalfFloats.floatToF16(v));
                    default -> data.putShort(HalfFloats.floatToBf16(v));
                }
            }
            out.write(data.array());
        }
    }
}
