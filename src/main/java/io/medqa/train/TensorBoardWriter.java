package io.medqa.train;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

/**
 * TensorBoard event files ({@code events.out.tfevents.*}) with scalar summaries, written without
 * TensorFlow: each record is TFRecord-framed (u64 length, masked CRC32C of the length, payload,
 * masked CRC32C of the payload; little-endian) and each payload an {@code Event} protobuf
 * (tensorflow/core/util/event.proto):
 * <pre>
 *   Event      { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *                SessionLog session_log = 7; }
 *   Summary    { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
 *   SessionLog { SessionStatus status = 1; }   START = 1
 * </pre>
 * A resumed run starts a new file with a SessionLog START at its first step, which tells TensorBoard
 * to discard the steps from there on that an earlier file of the run holds (the steps trained again).
 * Every record is flushed when written, so {@code tensorboard --logdir} follows a live run.
 */
public final class TensorBoardWriter implements AutoCloseable {

    public static final String DIR = "tensorboard";
    private static final int MASK_DELTA = 0xa282ead8;
    private static final AtomicInteger OPENED = new AtomicInteger();

    private final Path file;
    private final OutputStream out;

    /** Opens a new event file in {@code dir}; {@code resumedAt} > 0 marks a restart at that step. */
    public TensorBoardWriter(Path dir, int resumedAt) {
        double now = System.currentTimeMillis() / 1000.0;
        // TensorBoard reads a folder's files in name order: the time comes first, the counter keeps
        // two files opened in one second (a resume in the same process) apart and in order.
        this.file = dir.resolve(String.format(Locale.ROOT, "events.out.tfevents.%d.%s.%d.%d",
                (long) now, host(), ProcessHandle.current().pid(), OPENED.incrementAndGet()));
        try {
            Files.createDirectories(dir);
            this.out = Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
        Proto version = new Proto().float64(1, now).string(3, "brain.Event:2");
        record(version.bytes());
        if (resumedAt > 0) {
            record(new Proto().float64(1, now).int64(2, resumedAt).message(7, new Proto().int64(1, 1)).bytes());
        }
    }

    public Path file() {
        return file;
    }

    /** One Event holding a scalar per tag, at {@code step}. */
    public void scalars(long step, Map<String, Double> values) {
        Proto summary = new Proto();
        values.forEach((tag, v) -> summary.message(1, new Proto().string(1, tag).float32(2, v.floatValue())));
        record(new Proto().float64(1, System.currentTimeMillis() / 1000.0).int64(2, step).message(5, summary).bytes());
    }

    private void record(byte[] payload) {
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        header.putLong(payload.length);
        header.putInt(maskedCrc(header.array(), 0, 8));
        ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        footer.putInt(maskedCrc(payload, 0, payload.length));
        try {
            out.write(header.array());
            out.write(payload);
            out.write(footer.array());
            out.flush();
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, file + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** TFRecord's CRC mask (tensorflow/core/lib/hash/crc32c.h): rotate right by 15, add a constant. */
    static int maskedCrc(byte[] data, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(data, offset, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + MASK_DELTA;
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
        } catch (IOException e) {
            return "localhost";
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // every record was flushed when written
        }
    }

    /** The few protobuf wire types the Event messages use. */
    static final class Proto {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        Proto float64(int field, double v) {
            tag(field, 1);
            long bits = Double.doubleToLongBits(v);
            for (int i = 0; i < 8; i++) {
                buf.write((int) (bits >>> (8 * i)));
            }
            return this;
        }

        Proto float32(int field, float v) {
            tag(field, 5);
            int bits = Float.floatToIntBits(v);
            for (int i = 0; i < 4; i++) {
                buf.write(bits >>> (8 * i));
            }
            return this;
        }

        Proto int64(int field, long v) {
            tag(field, 0);
            varint(v);
            return this;
        }

        Proto string(int field, String s) {
            return bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto m) {
            return bytes(field, m.bytes());
        }

        private Proto bytes(int field, byte[] b) {
            tag(field, 2);
            varint(b.length);
            buf.writeBytes(b);
            return this;
        }

        private void tag(int field, int wireType) {
            varint(((long) field << 3) | wireType);
        }

        private void varint(long v) {
            while ((v & ~0x7FL) != 0) {
                buf.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            buf.write((int) v);
        }

        byte[] bytes() {
            return buf.toByteArray();
        }
    }
}
