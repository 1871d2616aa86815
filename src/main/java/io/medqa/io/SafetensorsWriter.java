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

    /** The header bytes, padded with spaces to a multiple of 8 as the reference writer does. */
    byte[] header() {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            long size = (long) e.values().length * SafetensorsFile.bytesPerElement(e.dtype());
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
