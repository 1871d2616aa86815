package io.medqa.io;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.medqa.model.Devices;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A 3.5 GB shard, like Qwen3-1.7B's first one, written as a sparse file: two padding tensors of
 * 1.6 and 1.9 GB, then real tensors at offsets past 2^31 and 2^32 bytes... past 3.4 GB.
 */
class LargeShardTest {

    @TempDir
    Path tmp;

    @Test
    void tensorsBeyondTwoGigabytesLoad() throws Exception {
        long pad0 = 400_000_000L; // F32 elements: 1.6 GB
        long pad1 = 475_000_000L; // 1.9 GB
        long padBytes = (pad0 + pad1) * 4;
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"pad0\":{\"dtype\":\"F32\",\"shape\":[" + pad0 + "],\"data_offsets\":[0," + pad0 * 4 + "]},"
                + "\"pad1\":{\"dtype\":\"F32\",\"shape\":[" + pad1 + "],\"data_offsets\":[" + pad0 * 4 + "," + padBytes + "]},"
                + "\"w32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[" + padBytes + "," + (padBytes + 24) + "]},"
                + "\"wbf\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[" + (padBytes + 24) + "," + (padBytes + 32) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path file = tmp.resolve("model-00001-of-00002.safetensors");
        long dataStart = 8 + h.length;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            f.write(h);
            ByteBuffer tail = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : new float[] {1, 2, 3, 4, 5, 6}) {
                tail.putFloat(v);
            }
            for (float v : new float[] {0.5f, -1.5f, 3.0f, 1e-3f}) {
                tail.putShort(HalfFloats.floatToBf16(v));
            }
            f.seek(dataStart + padBytes); // the padding stays a hole in the file
            f.write(tail.array());
        }
        assertEquals(dataStart + padBytes + 32, file.toFile().length());
        try (SafetensorsFile st = SafetensorsFile.open(file);
             NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            NDArray w32 = st.load(m, "w32", DataType.FLOAT32);
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, w32.toFloatArray());
            NDArray wbf = st.load(m, "wbf", DataType.FLOAT32);
            assertArrayEquals(new float[] {0.5f, -1.5f, 3.0f, HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(1e-3f))},
                    wbf.toFloatArray());
        }
    }

    /** A tensor larger than one mapping is read in row chunks; here the chunk size is shrunk to 64 bytes. */
    @Test
    void tensorsLargerThanAChunkAreJoinedFromRowChunks() throws Exception {
        float[] values = new float[7 * 5];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.25f - 3;
        }
        Path file = tmp.resolve("big.safetensors");
        new SafetensorsWriter().add("w32", "F32", new long[] {7, 5}, values).add("wbf", "BF16", new long[] {7, 5}, values)
                .write(file);
        long saved = SafetensorsFile.chunkBytes;
        SafetensorsFile.chunkBytes = 64; // 20 bytes a row: chunks of 3 rows, 3 + 3 + 1
        try (SafetensorsFile st = SafetensorsFile.open(file);
             NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            NDArray w32 = st.load(m, "w32", DataType.FLOAT32);
            assertEquals(new ai.djl.ndarray.types.Shape(7, 5), w32.getShape());
            assertArrayEquals(values, w32.toFloatArray());
            assertArrayEquals(st.readFloats("wbf"), st.load(m, "wbf", DataType.FLOAT32).toFloatArray());
            int before = m.getManagedArrays().size();
            st.load(m, "w32", DataType.FLOAT32);
            assertEquals(before + 1, m.getManagedArrays().size(), "the chunks are freed, only the whole stays");
        } finally {
            SafetensorsFile.chunkBytes = saved;
        }
    }
}
