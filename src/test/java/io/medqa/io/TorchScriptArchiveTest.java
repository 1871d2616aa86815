package io.medqa.io;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The archive's layout, byte for byte where PyTorch fixes it. Loading it in libtorch: SdpaModuleTest. */
class TorchScriptArchiveTest {

    @Test
    void entriesAreStoredInOneFolderWithTheirCrcs() throws Exception {
        String source = "class X(Module):\n  __parameters__ = []\n";
        byte[] zip = TorchScriptArchive.module("arch", "X", source);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (ZipInputStream in = new ZipInputStream(new ByteArrayInputStream(zip))) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                byte[] data = in.readAllBytes();
                assertEquals(ZipEntry.STORED, e.getMethod(), e.getName());
                CRC32 crc = new CRC32();
                crc.update(data);
                assertEquals(crc.getValue(), e.getCrc(), e.getName());
                entries.put(e.getName(), data);
            }
        }
        assertEquals(java.util.List.of("arch/data.pkl", "arch/code/__torch__.py", "arch/constants.pkl", "arch/version"),
                java.util.List.copyOf(entries.keySet()));
        assertEquals(source, new String(entries.get("arch/code/__torch__.py"), StandardCharsets.UTF_8));
        assertEquals("3\n", new String(entries.get("arch/version"), StandardCharsets.US_ASCII));
        assertArrayEquals(new byte[] {(byte) 0x80, 2, ')', '.'}, entries.get("arch/constants.pkl"));
        assertArrayEquals(TorchScriptArchive.moduleObject("X"), entries.get("arch/data.pkl"));
        // the same bytes on every call (no timestamps)
        assertArrayEquals(zip, TorchScriptArchive.module("arch", "X", source));
    }

    @Test
    void moduleObjectIsAProtocol2PickleOfTheClassWithTrainingTrue() {
        byte[] expected = concat(new byte[] {(byte) 0x80, 2, 'c'}, "__torch__\nX\n".getBytes(StandardCharsets.US_ASCII),
                new byte[] {')', (byte) 0x81, '}', '(', 'X', 8, 0, 0, 0}, "training".getBytes(StandardCharsets.US_ASCII),
                new byte[] {(byte) 0x88, 'u', 'b', '.'});
        assertArrayEquals(expected, TorchScriptArchive.moduleObject("X"));
    }

    @Test
    void refusesNamesThatAreNotIdentifiers() {
        assertThrows(IllegalArgumentException.class, () -> TorchScriptArchive.module("a", "X\nY", ""));
        assertThrows(IllegalArgumentException.class, () -> TorchScriptArchive.module("a/b", "X", ""));
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
