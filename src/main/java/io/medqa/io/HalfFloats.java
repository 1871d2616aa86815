package io.medqa.io;

/**
 * Conversions between float32 and the two 16-bit float formats of checkpoints. Done in Java because
 * a bfloat16 tensor crashes DJL 0.35.1's JVM (see README, troubleshooting).
 */
public final class HalfFloats {

    private HalfFloats() {}

    /** bfloat16 is the upper half of a float32: widening is exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Rounds to the nearest bfloat16, ties to even (as torch's float-to-bfloat16 cast does). */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** IEEE 754 binary16 to float32, subnormals and infinities included. */
    public static float f16ToFloat(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            float magnitude = mantissa * 0x1p-24f; // subnormal: mantissa * 2^-24, exact in float32
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** float32 to binary16, round to nearest even, overflow to infinity. */
    public static short floatToF16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(value)) {
            return (short) (sign | 0x7E00);
        }
        float abs = Math.abs(value);
        if (abs >= 65520f) { // rounds to infinity in binary16
            return (short) (sign | 0x7C00);
        }
        if (abs < 0x1p-14f) { // subnormal or zero: a multiple of 2^-24
            int mantissa = Math.round(abs * 0x1p24f); // exact scaling; Math.round ties up, fix ties to even
            float exact = abs * 0x1p24f;
            if (exact - (float) Math.floor(exact) == 0.5f && (mantissa & 1) == 1) {
                mantissa -= 1;
            }
            return (short) (sign | mantissa);
        }
        int absBits = bits & 0x7FFFFFFF;
        int exponent = (absBits >>> 23) - 127 + 15;
        int mantissa = absBits & 0x7FFFFF;
        int half = (exponent << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half += 1; // may carry into the exponent, which is the correct rounding
        }
        return (short) (sign | half);
    }
}
