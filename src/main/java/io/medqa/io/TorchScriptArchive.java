package io.medqa.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A TorchScript archive, as {@code torch.jit.save} writes it, for a module that has code and no
 * tensors: libtorch compiles the source when it loads the archive, so no Python is needed to make one.
 *
 * <p>Layout (PyTorch's {@code caffe2/serialize/inline_container.h} and
 * {@code torch/csrc/jit/serialization/import.cpp}): a zip whose entries all sit in one folder
 * {@code <archive>/}, stored (uncompressed) as PyTorch writes them:
 * <ul>
 *   <li>{@code data.pkl}: the module object, pickle protocol 2: GLOBAL {@code __torch__ <Class>},
 *       EMPTY_TUPLE, NEWOBJ, then its attributes as a dict and BUILD. libtorch fills the object's
 *       slots in the dict's order, so the dict holds exactly the attributes the class declares;</li>
 *   <li>{@code code/__torch__.py}: the class in TorchScript's serialized source form;</li>
 *   <li>{@code constants.pkl}: the tensor constants of the code, an empty tuple here;</li>
 *   <li>{@code version}: the file format version, read before anything else and checked against
 *       the range the reader supports (1 to 10 in libtorch 2.7.1).</li>
 * </ul>
 */
public final class TorchScriptArchive {

    /**
     * 3 is the lowest version PyTorch 2.x writes ({@code kMinProducedFileFormatVersion}); a higher one
     * only matters for code that calls operators whose meaning changed (div, full, linspace, ...), for
     * which a lower version makes libtorch substitute the old behaviour.
     */
    static final String FORMAT_VERSION = "3";

    private static final java.time.LocalDateTime FIXED_TIME = java.time.LocalDateTime.of(1980, 1, 1, 0, 0);

    private TorchScriptArchive() {}

    /**
     * The archive of a module of class {@code __torch__.<className>} with one attribute,
     * {@code training = True}, whose class source is {@code source} (it must declare
     * {@code training : bool} as its only attribute).
     */
    public static byte[] module(String archiveName, String className, String source) {
        if (!className.matches("[A-Za-z_][A-Za-z0-9_]*") || !archiveName.matches("[A-Za-z0-9_]+")) {
            throw new IllegalArgumentException("not a plain identifier: " + archiveName + " / " + className);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            String dir = archiveName + "/";
            stored(zip, dir + "data.pkl", moduleObject(className));
            stored(zip, dir + "code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
            stored(zip, dir + "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // PROTO 2, EMPTY_TUPLE, STOP
            stored(zip, dir + "version", (FORMAT_VERSION + "\n").getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return bytes.toByteArray();
    }

    /** Pickle (protocol 2) of {@code __torch__.<className>} with state {"training": True}. */
    static byte[] moduleObject(String className) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80); // PROTO
        p.write(2);
        p.write('c'); // GLOBAL module\nname\n
        p.writeBytes(("__torch__\n" + className + "\n").getBytes(StandardCharsets.US_ASCII));
        p.write(')'); // EMPTY_TUPLE: no constructor arguments
        p.write(0x81); // NEWOBJ
        p.write('}'); // EMPTY_DICT
        p.write('('); // MARK
        byte[] key = "training".getBytes(StandardCharsets.UTF_8);
        p.write('X'); // BINUNICODE: 4-byte little-endian length, then UTF-8
        p.write(key.length);
        p.write(0);
        p.write(0);
        p.write(0);
        p.writeBytes(key);
        p.write(0x88); // NEWTRUE
        p.write('u'); // SETITEMS
        p.write('b'); // BUILD: the object's state from the dict
        p.write('.'); // STOP
        return p.toByteArray();
    }

    private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        e.setTimeLocal(FIXED_TIME); // the same bytes on every run
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }
}
