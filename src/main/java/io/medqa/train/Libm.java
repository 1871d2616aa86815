package io.medqa.train;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * The platform C library's {@code cos}, which Python's {@code math.cos} calls: the cosine schedule
 * then gives transformers' learning rate to the bit. Java's {@code Math.cos} is within an ulp of it
 * but not always equal (7 of 6,592 schedule points checked against glibc; {@code StrictMath.cos},
 * fdlibm, 229). Loaded through JNA, which DJL already brings; where the library cannot be loaded,
 * {@code Math.cos} is used and the rare last-bit difference stays.
 */
final class Libm {

    interface C extends Library {
        double cos(double x);
    }

    private static final C LIB = load();

    private Libm() {}

    private static C load() {
        try {
            return Native.load(Platform.MATH_LIBRARY_NAME, C.class);
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            org.slf4j.LoggerFactory.getLogger(Libm.class).debug("no C math library ({}); Math.cos is used", e.toString());
            return null;
        }
    }

    static double cos(double x) {
        return LIB != null ? LIB.cos(x) : Math.cos(x);
    }

    /** True when {@link #cos} is the C library's. */
    static boolean isNative() {
        return LIB != null;
    }
}
