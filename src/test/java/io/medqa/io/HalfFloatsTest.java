package io.medqa.io;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Bit patterns from the IEEE 754 binary16 and bfloat16 definitions. */
class HalfFloatsTest {

    @Test
    void f16KnownValues() {
        assertEquals(0x3C00, HalfFloats.floatToF16(1.0f) & 0xFFFF);
        assertEquals(0xC000, HalfFloats.floatToF16(-2.0f) & 0xFFFF);
        assertEquals(0x7BFF, HalfFloats.floatToF16(65504f) & 0xFFFF);
        assertEquals(0x7C00, HalfFloats.floatToF16(1e6f) & 0xFFFF);
        assertEquals(0x0001, HalfFloats.floatToF16(0x1p-24f) & 0xFFFF);
        assertEquals(0x0400, HalfFloats.floatToF16(0x1p-14f) & 0xFFFF);
        assertEquals(0x3555, HalfFloats.floatToF16(1f / 3) & 0xFFFF);
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0)
        assertEquals(0x3C00, HalfFloats.floatToF16(1f + 0x1p-11f) & 0xFFFF);
        assertEquals(0x3C02, HalfFloats.floatToF16(1f + 3 * 0x1p-11f) & 0xFFFF);
        assertEquals(1f / 3, HalfFloats.f16ToFloat((short) 0x3555), 1e-3);
        assertEquals(0x1p-24f, HalfFloats.f16ToFloat((short) 0x0001));
        assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.f16ToFloat((short) 0xFC00));
    }

    @Test
    void f16RoundTripsEveryFiniteHalf() {
        for (int h = 0; h < 0x10000; h++) {
            if ((h & 0x7C00) == 0x7C00) {
                continue; // inf and NaN
            }
            float f = HalfFloats.f16ToFloat((short) h);
            assertEquals(h, HalfFloats.floatToF16(f) & 0xFFFF, "half 0x" + Integer.toHexString(h));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3F80, HalfFloats.floatToBf16(1.0f) & 0xFFFF);
        // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even
        assertEquals(0x3F80, HalfFloats.floatToBf16(1f + 0x1p-8f) & 0xFFFF);
        assertEquals(0x3F82, HalfFloats.floatToBf16(1f + 3 * 0x1p-8f) & 0xFFFF);
        assertEquals(1.0078125f, HalfFloats.bf16ToFloat((short) 0x3F81));
    }
}
