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
}
