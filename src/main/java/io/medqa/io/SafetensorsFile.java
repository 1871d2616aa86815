package io.medqa.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A safetensors file (https://github.com/huggingface/safetensors#format): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw tensor bytes.
 *
 * <p>A tensor that needs no change is memory-mapped on its own and used in place; one that does (BF16,
 * another dtype, another device) is read through a staging buffer reused from tensor to tensor
 * ({@link #load}). Files of any size load: a tensor beyond 1 GiB is read in row chunks (Java maps and
 * buffers at most 2 GiB at a time). Every defect is reported as a {@link MedqaException} naming the
 * file and tensor.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** A tensor's entry in the header; offsets are relative to the start of the data section. */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        public Shape djlShape() {
            return new Shape(shape);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Header size cap from the reference implementation: larger is corruption, not a header. */
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    /** See {@link #load}; grown to the largest staged chunk, released with the file. */
    private ByteBuffer staging;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates the header: every tensor's byte range must fit its dtype, shape and the file. */
    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, path + ": file not found");
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, path + ": cannot read: " + e.getMessage(), e);
        }
        try {
            long size = channel.size();
            if (size < 8) {
                throw bad(path, "truncated file: " + size + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength <= 0 || headerLength > MAX_HEADER) {
                throw bad(path, "bad header: header length " + headerLength + " is not a safetensors header");
            }
            if (8 + headerLength > size) {
                throw bad(path, "truncated file: header says " + headerLength + " header bytes, file has "
                        + (size - 8));
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            readFully(channel, headerBytes, 8);
            JsonNode header;
            try {
                header = JSON.readTree(new String(headerBytes.array(), StandardCharsets.UTF_8).trim());
            } catch (IOException e) {
                throw bad(path, "bad header: not valid JSON (" + MedqaException.firstLine(e.getMessage()) + ")");
            }
            if (header == null || !header.isObject()) {
                throw bad(path, "bad header: not a JSON object");
            }
            long dataSize = size - 8 - headerLength;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
            }
            return new SafetensorsFile(path, channel, 8 + headerLength,
                    Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
        } catch (IOException e) {
            closeQuietly(channel);
            throw new MedqaException(ExitCodes.NO_INPUT, path + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode node, long dataSize) {
        JsonNode dtype = node.get("dtype");
        JsonNode shape = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtype == null || !dtype.isTextual() || shape == null || !shape.isArray()
                || offsets == null || !offsets.isArray() || offsets.size() != 2) {
            throw bad(path, "bad header: tensor " + name + " lacks dtype, shape or data_offsets");
        }
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            if (!shape.get(i).canConvertToLong() || shape.get(i).asLong() < 0) {
                throw bad(path, "bad header: tensor " + name + " has shape " + shape);
            }
            dims[i] = shape.get(i).asLong();
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        TensorInfo info = new TensorInfo(name, dtype.asText(), dims, begin, end);
        int width = bytesPerElement(info.dtype());
        if (width > 0 && end - begin != info.numel() * width) {
            throw bad(path, "tensor " + name + ": data_offsets [" + begin + ", " + end + ") hold "
                    + (end - begin) + " bytes, but " + info.dtype() + " " + Arrays.toString(dims)
                    + " needs " + info.numel() * width);
        }
        if (begin < 0 || end < begin) {
            throw bad(path, "bad header: tensor " + name + " has data_offsets [" + begin + ", " + end + "]");
        }
        if (end > dataSize) {
            throw bad(path, "truncated file: tensor " + name + " ends at byte " + end
                    + " of the data section, which has only " + dataSize + " bytes");
        }
        return info;
    }

    /** Bytes per element of a safetensors dtype, or -1 when unknown. */
    public static int bytesPerElement(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw bad(path, "tensor " + name + " is missing");
        }
        return info;
    }

    /**
     * Tensors larger than this are loaded in row chunks and concatenated on the device: a Java buffer
     * (and so one mapping) holds at most 2 GiB. Package-private so a test can exercise chunking.
     */
    static long chunkBytes = 1L << 30;

    /** The tensor's bytes as a read-only, native-order mapping. Never write through it. */
    public ByteBuffer map(String name) {
        TensorInfo info = info(name);
        return mapRange(info, 0, info.end() - info.begin());
    }

    private ByteBuffer mapRange(TensorInfo info, long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw bad(path, "tensor " + info.name() + " is " + length + " bytes; a single mapping holds at most 2 GiB");
        }
        try {
            if (length == 0) {
                return ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
            }
            MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin() + offset, length);
            return mapped.order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, path + ": tensor " + info.name() + ": cannot map: "
                    + e.getMessage(), e);
        }
    }

    /** Reads a floating-point tensor (F32, F16 or BF16) into a float array; for small tensors. */
    public float[] readFloats(String name) {
        TensorInfo info = info(name);
        requireFloat(info);
        ByteBuffer bytes = map(name);
        float[] out = new float[Math.toIntExact(info.numel())];
        switch (info.dtype()) {
            case "F32" -> bytes.asFloatBuffer().get(out);
            case "F16" -> {
                ShortBuffer s = bytes.asShortBuffer();
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.f16ToFloat(s.get(i));
                }
            }
            default -> {
                ShortBuffer s = bytes.asShortBuffer();
                for (int i = 0; i < out.length; i++) {
                    out[i] = HalfFloats.bf16ToFloat(s.get(i));
                }
            }
        }
        return out;
    }

    /**
     * Loads a floating-point tensor as an NDArray of {@code target} type on the manager's device.
     *
     * <p>F32 or F16 that stays as it is on the CPU is handed to the engine as mapped: the weight is the
     * mapping, nothing is copied. Everything else (BF16, which DJL cannot hold and which is widened to
     * F32 here; a dtype change; a move to a GPU) goes through one staging buffer per file, reused for
     * every tensor: read from the file into it, widened in place, cast or moved by libtorch into an
     * array of the engine's own, and the staging array closed before the next tensor. A fresh direct
     * buffer (or mapping) per tensor would stay allocated until the JVM's next garbage collection, and
     * with a small heap that collection may not come before the whole checkpoint has been read: a
     * 1.7B model loaded into fp16 from BF16 peaked at 13.5 GB of RSS for 4 GB of weights that way.
     */
    public synchronized NDArray load(NDManager manager, String name, DataType target) {
        TensorInfo info = info(name);
        requireFloat(info);
        long bytes = info.end() - info.begin();
        // A chunk's staging bytes (BF16 is staged as F32: twice its size) stay within chunkBytes.
        long staged = info.dtype().equals("BF16") ? 2 * bytes : bytes;
        if (staged <= chunkBytes || info.shape().length == 0 || info.shape()[0] <= 1) {
            return loadRange(manager, info, 0, info.shape(), target);
        }
        // (rows, ...) in chunks of whole rows, each within chunkBytes, joined along the first axis.
        long rows = info.shape()[0];
        long rowBytes = bytes / rows;
        long perChunk = Math.max(1, chunkBytes / (staged / rows));
        try (NDManager parts = manager.newSubManager()) {
            ai.djl.ndarray.NDList chunks = new ai.djl.ndarray.NDList();
            for (long r = 0; r < rows; r += perChunk) {
                long[] shape = info.shape().clone();
                shape[0] = Math.min(perChunk, rows - r);
                chunks.add(loadRange(parts, info, r * rowBytes, shape, target));
            }
            NDArray whole = ai.djl.ndarray.NDArrays.concat(chunks, 0);
            whole.attach(manager);
            return whole;
        }
    }

    /** Loads the bytes [offset, offset + size of shape) of a tensor as an array of that shape. */
    private NDArray loadRange(NDManager manager, TensorInfo info, long offset, long[] shape, DataType target) {
        long numel = 1;
        for (long d : shape) {
            numel *= d;
        }
        long length = numel * bytesPerElement(info.dtype());
        boolean bf16 = info.dtype().equals("BF16");
        DataType sourceType = bf16 || info.dtype().equals("F32") ? DataType.FLOAT32 : DataType.FLOAT16;
        boolean onCpu = manager.getDevice().equals(ai.djl.Device.cpu());
        if (!bf16 && sourceType == target && onCpu) {
            ByteBuffer mapped = mapRange(info, offset, length).order(ByteOrder.nativeOrder());
            try (NDManager cpu = manager.newSubManager(ai.djl.Device.cpu())) {
                NDArray raw = cpu.create(mapped, new Shape(shape), sourceType);
                raw.attach(manager);
                return raw;
            }
        }
        ByteBuffer stage = stage(info, offset, length, bf16, numel);
        try (NDManager cpu = manager.newSubManager(ai.djl.Device.cpu())) {
            NDArray raw = cpu.create(stage, new Shape(shape), sourceType); // on the staging memory, no copy
            NDArray moved = raw.toDevice(manager.getDevice(), false);
            NDArray result = moved.toType(target, false);
            if (result == raw) {
                result = raw.duplicate(); // the staging buffer is reused for the next tensor
            }
            result.attach(manager);
            return result; // raw (and a cast's intermediate) are freed with cpu, before the buffer is reused
        }
    }

    /**
     * The tensor's bytes read into the staging buffer, BF16 widened to F32 in place; the buffer is
     * this file's own and valid until the next call.
     */
    private ByteBuffer stage(TensorInfo info, long offset, long length, boolean bf16, long numel) {
        long size = bf16 ? 2 * length : length;
        if (size > Integer.MAX_VALUE) {
            throw bad(path, "tensor " + info.name() + ": a chunk of " + size + " bytes does not fit one buffer");
        }
        if (staging == null || staging.capacity() < size) {
            staging = null; // let the smaller one go before the larger one is allocated
            staging = ByteBuffer.allocateDirect((int) size).order(ByteOrder.nativeOrder());
        }
        ByteBuffer buf = staging.duplicate().order(ByteOrder.nativeOrder());
        int at = bf16 ? (int) length : 0; // BF16 is read into the upper half and widened downwards from it
        buf.limit(at + (int) length).position(at);
        try {
            long position = dataStart + info.begin() + offset;
            while (buf.hasRemaining()) {
                int n = channel.read(buf, position + buf.position() - at);
                if (n < 0) {
                    throw new IOException("unexpected end of file");
                }
            }
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, path + ": tensor " + info.name() + ": cannot read: "
                    + e.getMessage(), e);
        }
        if (bf16) {
            widenBf16InPlace(buf, at, Math.toIntExact(numel));
        }
        buf.position(0).limit((int) size);
        return buf.slice().order(ByteOrder.nativeOrder());
    }

    /**
     * BF16 (the upper 16 bits of an F32) to F32, from bytes [at, at + 2n) of {@code buf} to [0, 4n).
     * Ascending order is safe in place with at = 2n: element i is written to [4i, 4i + 4), which ends
     * at or before 2n + 2i + 2, where the still unread element i + 1 begins.
     */
    private static void widenBf16InPlace(ByteBuffer buf, int at, int n) {
        for (int i = 0; i < n; i++) {
            int lo = buf.get(at + 2 * i) & 0xFF;
            int hi = buf.get(at + 2 * i + 1) & 0xFF; // safetensors is little-endian
            buf.putInt(4 * i, ((hi << 8) | lo) << 16);
        }
    }

    private void requireFloat(TensorInfo info) {
        switch (info.dtype()) {
            case "F32", "F16", "BF16" -> { }
            default -> throw bad(path, "tensor " + info.name() + " has unexpected dtype " + info.dtype()
                    + " (expected F32, F16 or BF16)");
        }
    }

    static MedqaException bad(Path path, String what) {
        return new MedqaException(ExitCodes.DATA, path + ": " + what);
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }


    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing was written; closing a read channel cannot lose data
        }
    }

    @Override
    public synchronized void close() {
        staging = null;
        closeQuietly(channel);
    }
}
