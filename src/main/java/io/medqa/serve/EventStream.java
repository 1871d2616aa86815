package io.medqa.serve;

import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A server-sent event response, written only by the request's own thread. The worker hands frames over
 * through a queue ({@link #send}), so a slow client never holds the model. While nothing else is due, a
 * comment line goes out every second: a write to a client that has gone fails, which sets
 * {@code cancelled}, and the worker drops the job at its next token (or before it starts).
 */
final class EventStream {

    private static final long KEEPALIVE_MS = 1000;

    private final OutputStream out;
    private final AtomicBoolean cancelled;
    private final BlockingQueue<String> frames = new LinkedBlockingQueue<>();
    private boolean broken;

    EventStream(HttpServletResponse res, AtomicBoolean cancelled) throws IOException {
        this.cancelled = cancelled;
        res.setStatus(200);
        res.setContentType("text/event-stream");
        res.setCharacterEncoding("UTF-8");
        res.setHeader("Cache-Control", "no-cache");
        res.setHeader("X-Accel-Buffering", "no");
        this.out = res.getOutputStream();
        res.flushBuffer();
    }

    static String frame(String event, String data) {
        return (event == null ? "" : "event: " + event + "\n") + "data: " + data + "\n\n";
    }

    /** Queues a frame; any thread. */
    void send(String frame) {
        frames.add(frame);
    }

    /** Writes a frame now; false when the client has gone. */
    boolean write(String frame) {
        if (broken) {
            return false;
        }
        try {
            out.write(frame.getBytes(StandardCharsets.UTF_8));
            out.flush();
            return true;
        } catch (IOException e) {
            broken = true;
            cancelled.set(true);
            return false;
        }
    }

    /**
     * Writes queued frames (and keep-alives) until {@code done} completes; the worker queues its frames
     * before completing, so the end marker comes after all of them.
     */
    boolean pump(CompletableFuture<?> done) {
        String end = new String("end"); // compared by identity: no frame can be it
        done.whenComplete((r, e) -> frames.add(end));
        try {
            while (true) {
                String f = frames.poll(KEEPALIVE_MS, TimeUnit.MILLISECONDS);
                if (f == end) {
                    return true;
                }
                if (!write(f != null ? f : ": waiting\n\n")) {
                    return false;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cancelled.set(true);
            return false;
        }
    }
}
