package io.medqa;

/** Process exit codes, from BSD's sysexits.h where one fits; the README lists them. */
public final class ExitCodes {
    public static final int OK = 0;
    /** An internal error: a bug, or a native failure the engine reported. */
    public static final int SOFTWARE = 1;
    /** Command-line usage error (picocli's own convention). */
    public static final int USAGE = 2;
    /** Input data was malformed: a bad JSONL line, a corrupt checkpoint, an impossible config value. */
    public static final int DATA = 65;
    /** An input file or folder does not exist or cannot be read. */
    public static final int NO_INPUT = 66;
    /** The run could not use the requested device or native library. */
    public static final int UNAVAILABLE = 69;
    /** Writing an output failed. */
    public static final int IO = 74;
    /** Interrupted by the user (128 + SIGINT). */
    public static final int INTERRUPTED = 130;

    private ExitCodes() {}
}
