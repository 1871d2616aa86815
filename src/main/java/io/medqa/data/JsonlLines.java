package io.medqa.data;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The lines of a JSONL file, read as bytes and checked before anything parses them: a line may hold at
 * most {@link #MAX_LINE_BYTES} bytes, must be valid UTF-8 (no replacement characters slipped in), and a
 * UTF-8 byte-order mark at the start of the file is dropped, as Python's utf-8-sig readers do. A line
 * that breaks a rule is reported as a {@link BadLine} naming FILE:LINE, after the reader has moved past
 * it, so a caller that skips bad lines can go on. A line over the limit is never held in memory: a
 * multi-megabyte line used to exhaust the heap inside the tokenizer binding and abort the JVM.
 */
public final class JsonlLines implements AutoCloseable {

    /** The longest line accepted, in bytes (1 MiB: MedQA and MedMCQA rows are a few kB). */
    public static final int MAX_LINE_BYTES = 1 << 20;

    /** A line and its 1-based number. */
    public record Line(long number, String text) {}

    /** A line that is too long or not UTF-8; exit code 65. */
    public static final class BadLine extends MedqaException {
        BadLine(String message) {
            super(ExitCodes.DATA, message);
        }
    }

    private final Path file;
    private final InputStream in;
    private final int maxLineBytes;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    private final byte[] buffer = new byte[1 << 16];
    private int pos;
    private int limit;
    private byte[] line = new byte[1024];
    private long number;
    private boolean eof;

    private JsonlLines(Path file, InputStream in, int maxLineBytes) {
        this.file = file;
        this.in = in;
        this.maxLineBytes = maxLineBytes;
    }

    public static JsonlLines open(Path file) {
        return open(file, MAX_LINE_BYTES);
    }

    static JsonlLines open(Path file, int maxLineBytes) {
        try {
            return new JsonlLines(file, Files.newInputStream(file), maxLineBytes);
        } catch (NoSuchFileException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": file not found");
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
    }

    /** The next line (without its \n or \r\n), or null at the end of the file. */
    public Line next() {
        if (eof) {
            return null;
        }
        int length = 0;
        long total = 0;
        boolean sawAny = false;
        while (true) {
            if (pos == limit && !fill()) {
                eof = true;
                if (!sawAny) {
                    return null;
                }
                break;
            }
            sawAny = true;
            byte b = buffer[pos++];
            if (b == '\n') {
                break;
            }
            total++;
            if (total <= maxLineBytes) {
                if (length == line.length) {
                    line = Arrays.copyOf(line, Math.min(maxLineBytes, line.length * 2));
                }
                line[length++] = b;
            }
        }
        number++;
        if (total > maxLineBytes) {
            throw new BadLine(file + ":" + number + ": line is " + total + " bytes long, over the limit of "
                    + maxLineBytes + " bytes (1 MiB) for one JSONL line");
        }
        int start = number == 1 && length >= 3 && (line[0] & 0xFF) == 0xEF && (line[1] & 0xFF) == 0xBB
                && (line[2] & 0xFF) == 0xBF ? 3 : 0;
        if (length > start && line[length - 1] == '\r') {
            length--;
        }
        try {
            CharBuffer chars = utf8.reset().decode(ByteBuffer.wrap(line, start, length - start));
            return new Line(number, chars.toString());
        } catch (CharacterCodingException e) {
            throw new BadLine(file + ":" + number + ": not valid UTF-8 (at byte " + (firstBadByte(start, length) + 1)
                    + " of the line); re-save the file as UTF-8");
        }
    }

    /** The offset in the line of the first byte the decoder refuses. */
    private int firstBadByte(int start, int length) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer bytes = ByteBuffer.wrap(line, start, length - start);
        CharBuffer out = CharBuffer.allocate(length - start + 1);
        d.decode(bytes, out, true);
        return bytes.position() - start;
    }

    private boolean fill() {
        try {
            int n = in.read(buffer);
            if (n <= 0) {
                return false;
            }
            pos = 0;
            limit = n;
            return true;
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException ignored) {
            // read-only
        }
    }
}
