package io.medqa.io;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.medqa.model.Devices;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loads that need a copy (BF16, a cast, a move) go through one staging buffer per file: what the loads
 * leave allocated outside the engine must not grow with the number of tensors read, and no loaded
 * array may share the buffer that the next load overwrites.
 */
class SafetensorsStagingTest {

    @TempDir
    Path tmp;

    private static final int TENSORS = 40;
    private static final int ROWS = 64;
    private static final int COLS = 1024; // 64 K elements: 128 KiB of BF16, 256 KiB staged as F32

    @Test
    void loadedArraysKeepTheirValuesWhileTheBufferIsReused() throws Exception {
        Random random = new Random(3);
        float[][] values = new float[4][];
        SafetensorsWriter w = new SafetensorsWriter();
        for (int t = 0; t < values.length; t++) {
            values[t] = new float[ROWS * 8];
            for (int i = 0; i < values[t].length; i++) {
                values[t][i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16((float) random.nextGaussian()));
            }
            w.add("t" + t, t % 2 == 0 ? "BF16" : "F32", new long[] {ROWS, 8}, values[t]);
        }
        Path file = tmp.resolve("w.safetensors");
        w.write(file);
        try (SafetensorsFile st = SafetensorsFile.open(file);
             NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            List<NDArray> fp32 = new ArrayList<>();
            List<NDArray> fp16 = new ArrayList<>();
            for (int t = 0; t < values.length; t++) {
                fp32.add(st.load(m, "t" + t, DataType.FLOAT32)); // BF16 -> F32 on the CPU: staged, then copied
                fp16.add(st.load(m, "t" + t, DataType.FLOAT16)); // staged, then cast
            }
            for (int t = 0; t < values.length; t++) {
                assertArrayEquals(values[t], fp32.get(t).toFloatArray(), 0f, "t" + t + " as fp32");
                float[] rounded = new float[values[t].length];
                for (int i = 0; i < rounded.length; i++) {
                    rounded[i] = HalfFloats.f16ToFloat(HalfFloats.floatToF16(values[t][i]));
                }
                assertArrayEquals(rounded, fp16.get(t).toFloatArray(), 0f, "t" + t + " as fp16");
            }
        }
    }

    @Test
    void directMemoryStaysWithinOneStagedTensorWhateverTheirNumber() throws Exception {
        SafetensorsWriter w = new SafetensorsWriter();
        float[] values = new float[ROWS * COLS];
        for (int i = 0; i < values.length; i++) {
            values[i] = (i % 97) * 0.01f - 0.5f;
        }
        for (int t = 0; t < TENSORS; t++) {
            w.add("t" + t, "BF16", new long[] {ROWS, COLS}, values);
        }
        Path file = tmp.resolve("many.safetensors");
        w.write(file);
        long staged = 4L * ROWS * COLS;
        BufferPoolMXBean direct = pool("direct");
        BufferPoolMXBean mapped = pool("mapped");
        try (SafetensorsFile st = SafetensorsFile.open(file);
             NDManager m = Devices.engine().newBaseManager(Device.cpu())) {
            for (int round = 0; round < 3; round++) {
                long directBefore = direct.getMemoryUsed();
                long mappedBefore = mapped.getCount();
                List<NDArray> kept = new ArrayList<>();
                for (int t = 0; t < TENSORS; t++) {
                    kept.add(st.load(m, "t" + t, round == 1 ? DataType.FLOAT32 : DataType.FLOAT16));
                }
                long grown = direct.getMemoryUsed() - directBefore;
                // 40 fresh buffers would be 40 x 256 KiB = 10 MiB until the next collection
                assertTrue(grown <= staged, "direct memory grew by " + grown + " bytes over " + TENSORS
                        + " loads; one staged tensor is " + staged);
                assertEquals(mappedBefore, mapped.getCount(), "BF16 is read, not mapped");
                assertEquals(values.length, kept.get(TENSORS - 1).size());
                kept.forEach(NDArray::close);
            }
        }
    }

    private static BufferPoolMXBean pool(String name) {
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals(name)) {
                return b;
            }
        }
        throw new AssertionError("no " + name + " buffer pool");
    }
}
