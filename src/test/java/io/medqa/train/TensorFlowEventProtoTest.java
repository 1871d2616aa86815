package io.medqa.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.proto.framework.Summary;
import org.tensorflow.proto.util.Event;
import org.tensorflow.proto.util.SessionLog;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parses medqa's event files with TensorFlow's own generated classes for event.proto and summary.proto
 * (the schema TensorBoard's loader reads), so a wrong field number, wire type or nesting fails here
 * even where the hand-written decoder of {@link TensorBoardEventsTest} shares the writer's mistake.
 * Unknown fields would be kept silently by protobuf, so the test also asserts that none are present.
 */
class TensorFlowEventProtoTest {

    @TempDir
    Path tmp;

    @Test
    void tensorFlowsEventClassesReadEveryRecord() throws Exception {
        Path dir = tmp.resolve("run");
        Files.createDirectories(dir);
        try (Metrics m = new Metrics(dir, 0, true)) {
            for (int step = 1; step <= 2; step++) {
                m.write(m.record().put("step", step).put("loss", 3.0 / step).put("lr", 2e-4)
                        .put("grad_norm", 1.5).put("tokens_per_s", 500.0).put("skipped", false));
            }
            m.write(m.record().put("step", 2).put("eval_loss", 1.25).put("eval_accuracy", 0.5));
        }
        Files.writeString(dir.resolve(Metrics.FILE), "{\"step\":1,\"loss\":3.0}\n");
        try (Metrics m = new Metrics(dir, 1, true)) { // resumed after step 1
            m.write(m.record().put("step", 2).put("loss", 1.4).put("lr", 2e-4));
        }

        List<Event> events = new ArrayList<>();
        try (var files = Files.list(dir.resolve(TensorBoardWriter.DIR))) {
            for (Path f : files.sorted().toList()) {
                events.addAll(read(f));
            }
        }
        List<String> seen = new ArrayList<>();
        int versions = 0;
        int restarts = 0;
        for (Event e : events) {
            assertTrue(e.getUnknownFields().asMap().isEmpty(), "unknown Event fields: " + e);
            assertTrue(e.getWallTime() > 1.6e9, "wall_time in seconds since the epoch: " + e.getWallTime());
            switch (e.getWhatCase()) {
                case FILE_VERSION -> {
                    assertEquals("brain.Event:2", e.getFileVersion());
                    versions++;
                }
                case SUMMARY -> {
                    for (Summary.Value v : e.getSummary().getValueList()) {
                        assertTrue(v.getUnknownFields().asMap().isEmpty(), "unknown Value fields: " + v);
                        assertEquals(Summary.Value.ValueCase.SIMPLE_VALUE, v.getValueCase(), v.toString());
                        seen.add(e.getStep() + " " + v.getTag() + " " + v.getSimpleValue());
                    }
                }
                case SESSION_LOG -> {
                    assertEquals(SessionLog.SessionStatus.START, e.getSessionLog().getStatus());
                    assertEquals(2, e.getStep(), "the restart is marked at the first step trained again");
                    restarts++;
                }
                default -> throw new AssertionError("unexpected event " + e);
            }
        }
        assertEquals(2, versions, "one file_version record opens each file");
        assertEquals(1, restarts);
        assertTrue(seen.contains("1 train/loss 3.0"), seen.toString());
        assertTrue(seen.contains("2 train/loss 1.5"), seen.toString());
        assertTrue(seen.contains("2 train/loss 1.4"), seen.toString());
        assertTrue(seen.contains("2 eval/accuracy 0.5"), seen.toString());
        assertTrue(seen.contains("2 eval/loss 1.25"), seen.toString());
        assertTrue(seen.contains("1 train/learning_rate " + (float) 2e-4), seen.toString());
        assertTrue(seen.contains("1 train/grad_norm 1.5"), seen.toString());
        assertTrue(seen.contains("1 train/tokens_per_second 500.0"), seen.toString());
    }

    /** TFRecord framing: u64 length, its masked CRC, the bytes, their masked CRC (checked elsewhere). */
    private static List<Event> read(Path file) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new ArrayList<>();
        while (b.hasRemaining()) {
            long n = b.getLong();
            b.getInt();
            byte[] data = new byte[Math.toIntExact(n)];
            b.get(data);
            b.getInt();
            out.add(Event.parseFrom(data));
        }
        return out;
    }
}
