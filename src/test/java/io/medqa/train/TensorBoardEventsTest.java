package io.medqa.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reads what medqa writes with a decoder written here from the TFRecord and protobuf specifications,
 * sharing no code with the writer: its own bitwise CRC32C (Castagnoli, reflected 0x82F63B78), its own
 * varint and wire-type parsing, and event.proto's field numbers.
 */
class TensorBoardEventsTest {

    @TempDir
    Path tmp;

    record Scalar(long step, String tag, float value) {}

    record Events(String fileVersion, List<Scalar> scalars, List<Long> restarts) {}

    @Test
    void anIndependentReaderReadsEveryScalarWithValidCrcs() throws Exception {
        try (Metrics m = new Metrics(tmp, 0, true)) {
            for (int step = 1; step <= 3; step++) {
                m.write(m.record().put("step", step).put("loss", 2.0 / step).put("lr", 1e-4 * step)
                        .put("grad_norm", 0.5).put("tokens_per_s", 1000.0 + step).put("skipped", false));
            }
            m.write(m.record().put("step", 3).put("eval_loss", 0.75).put("eval_accuracy", 0.625));
            m.write(m.record().put("step", 4).put("loss", Double.NaN).put("lr", 4e-4)); // a skipped fp16 step
        }
        Events e = read(onlyFile(tmp.resolve(TensorBoardWriter.DIR)));
        assertEquals("brain.Event:2", e.fileVersion());
        assertTrue(e.restarts().isEmpty());
        assertTrue(e.scalars().contains(new Scalar(2, "train/loss", 1.0f)), e.scalars().toString());
        assertTrue(e.scalars().contains(new Scalar(3, "train/learning_rate", 3e-4f)));
        assertTrue(e.scalars().contains(new Scalar(1, "train/grad_norm", 0.5f)));
        assertTrue(e.scalars().contains(new Scalar(1, "train/tokens_per_second", 1001f)));
        assertTrue(e.scalars().contains(new Scalar(3, "eval/loss", 0.75f)));
        assertTrue(e.scalars().contains(new Scalar(3, "eval/accuracy", 0.625f)));
        assertTrue(e.scalars().contains(new Scalar(4, "train/learning_rate", 4e-4f)));
        assertEquals(0, e.scalars().stream().filter(s -> s.step() == 4 && s.tag().equals("train/loss")).count(),
                "a NaN loss is left out, not logged");
        assertEquals(3 * 4 + 2 + 1, e.scalars().size());
    }

    @Test
    void aResumedRunMarksTheRestartSoTensorBoardDropsTheRetrainedSteps() throws Exception {
        Path dir = tmp.resolve("run");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(Metrics.FILE), "{\"step\":1,\"loss\":1.0}\n{\"step\":2,\"loss\":0.9}\n");
        try (Metrics m = new Metrics(dir, 1, true)) {
            m.write(m.record().put("step", 2).put("loss", 0.8));
        }
        Events e = read(onlyFile(dir.resolve(TensorBoardWriter.DIR)));
        assertEquals(List.of(2L), e.restarts(), "SessionLog START at the first step trained again");
        assertEquals(List.of(new Scalar(2, "train/loss", 0.8f)), e.scalars());
    }

    private static Path onlyFile(Path dir) throws Exception {
        try (var files = Files.list(dir)) {
            List<Path> all = files.toList();
            assertEquals(1, all.size(), all.toString());
            assertTrue(all.get(0).getFileName().toString().startsWith("events.out.tfevents."));
            return all.get(0);
        }
    }

    static Events read(Path file) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        String version = null;
        List<Scalar> scalars = new ArrayList<>();
        List<Long> restarts = new ArrayList<>();
        while (b.hasRemaining()) {
            byte[] len = new byte[8];
            b.get(len);
            assertEquals(masked(crc32c(len)), b.getInt(), "length CRC");
            long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            byte[] data = new byte[(int) n];
            b.get(data);
            assertEquals(masked(crc32c(data)), b.getInt(), "data CRC");
            long step = 0;
            String tag = null;
            Float value = null;
            boolean start = false;
            for (Field f : fields(data)) {
                switch (f.number) {
                    case 1 -> assertEquals(1, f.wire, "wall_time is a double");
                    case 2 -> step = f.varint;
                    case 3 -> version = new String(f.bytes, java.nio.charset.StandardCharsets.UTF_8);
                    case 5 -> {
                        for (Field v : fields(f.bytes)) { // Summary.value
                            assertEquals(1, v.number);
                            for (Field g : fields(v.bytes)) {
                                if (g.number == 1) {
                                    tag = new String(g.bytes, java.nio.charset.StandardCharsets.UTF_8);
                                } else if (g.number == 2) {
                                    assertEquals(5, g.wire, "simple_value is a float");
                                    value = Float.intBitsToFloat((int) g.varint);
                                }
                            }
                            scalars.add(new Scalar(-1, tag, value));
                        }
                    }
                    case 7 -> start = fields(f.bytes).stream().anyMatch(s -> s.number == 1 && s.varint == 1);
                    default -> throw new AssertionError("unexpected Event field " + f.number);
                }
            }
            for (int i = 0; i < scalars.size(); i++) {
                if (scalars.get(i).step() == -1) {
                    scalars.set(i, new Scalar(step, scalars.get(i).tag(), scalars.get(i).value()));
                }
            }
            if (start) {
                restarts.add(step);
            }
        }
        return new Events(version, scalars, restarts);
    }

    /** One protobuf field: varint and fixed values in {@code varint}, length-delimited ones in {@code bytes}. */
    record Field(int number, int wire, long varint, byte[] bytes) {}

    static List<Field> fields(byte[] data) {
        List<Field> out = new ArrayList<>();
        int[] pos = {0};
        while (pos[0] < data.length) {
            long key = varint(data, pos);
            int wire = (int) (key & 7);
            int number = (int) (key >>> 3);
            switch (wire) {
                case 0 -> out.add(new Field(number, wire, varint(data, pos), null));
                case 1, 5 -> {
                    int size = wire == 1 ? 8 : 4;
                    long v = 0;
                    for (int i = 0; i < size; i++) {
                        v |= (data[pos[0] + i] & 0xffL) << (8 * i);
                    }
                    pos[0] += size;
                    out.add(new Field(number, wire, v, null));
                }
                case 2 -> {
                    int n = (int) varint(data, pos);
                    out.add(new Field(number, wire, 0, java.util.Arrays.copyOfRange(data, pos[0], pos[0] + n)));
                    pos[0] += n;
                }
                default -> throw new AssertionError("wire type " + wire);
            }
        }
        return out;
    }

    private static long varint(byte[] d, int[] pos) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte x = d[pos[0]++];
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                return v;
            }
        }
    }

    static int crc32c(byte[] data) {
        int crc = 0xffffffff;
        for (byte x : data) {
            crc ^= x & 0xff;
            for (int k = 0; k < 8; k++) {
                crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
            }
        }
        return ~crc;
    }

    static int masked(int crc) {
        return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
    }

    /** The CRC32C check value of "123456789" (RFC 3720, B.4): the reader's CRC is the standard one. */
    @Test
    void theReadersCrcIsCastagnoli() {
        assertEquals(0xE3069283, crc32c("123456789".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }
}
