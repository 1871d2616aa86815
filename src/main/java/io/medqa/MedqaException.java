package io.medqa;

/**
 * An error the user can act on: its message is printed as one line and the process exits with
 * {@link #exitCode()}. Everything else that escapes a command is an internal error.
 */
public class MedqaException extends RuntimeException {

    private final int exitCode;

    public MedqaException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public MedqaException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    /** The first line of a library's message (Jackson's run to several), for one-line errors. */
    public static String firstLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }
}
