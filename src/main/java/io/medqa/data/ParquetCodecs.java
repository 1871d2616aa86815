package io.medqa.data;

import com.github.luben.zstd.Zstd;
import org.apache.parquet.bytes.BytesInput;
import org.apache.parquet.compression.CompressionCodecFactory;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.xerial.snappy.Snappy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Page codecs without Hadoop. parquet-hadoop's own CodecFactory builds its codecs through Hadoop's
 * Configuration, which would put hadoop-common (and its dependencies, ~60 MB) on the class path; the
 * codecs the Hub's files use (snappy from pyarrow's default, zstd, gzip) are plain byte transforms
 * that snappy-java, zstd-jni (both already parquet-hadoop dependencies) and the JDK do directly.
 */
public final class ParquetCodecs implements CompressionCodecFactory {

    @Override
    public BytesInputCompressor getCompressor(CompressionCodecName codec) {
        check(codec);
        return new BytesInputCompressor() {
            @Override
            public BytesInput compress(BytesInput bytes) throws IOException {
                byte[] in = bytes.toByteArray();
                return BytesInput.from(switch (codec) {
                    case SNAPPY -> Snappy.compress(in);
                    case ZSTD -> Zstd.compress(in);
                    case GZIP -> gzip(in);
                    default -> in;
                });
            }

            @Override
            public CompressionCodecName getCodecName() {
                return codec;
            }

            @Override
            public void release() {
                // nothing pooled
            }
        };
    }

    @Override
    public BytesInputDecompressor getDecompressor(CompressionCodecName codec) {
        check(codec);
        return new BytesInputDecompressor() {
            @Override
            public BytesInput decompress(BytesInput bytes, int uncompressedSize) throws IOException {
                return BytesInput.from(inflate(codec, bytes.toByteArray(), uncompressedSize));
            }

            @Override
            public void decompress(ByteBuffer input, int compressedSize, ByteBuffer output, int uncompressedSize)
                    throws IOException {
                byte[] in = new byte[compressedSize];
                input.get(in);
                output.put(inflate(codec, in, uncompressedSize));
            }

            @Override
            public void release() {
                // nothing pooled
            }
        };
    }

    @Override
    public void release() {
        // nothing pooled
    }

    private static void check(CompressionCodecName codec) {
        switch (codec) {
            case UNCOMPRESSED, SNAPPY, ZSTD, GZIP -> { }
            default -> throw new UnsupportedCodecException(codec);
        }
    }

    /** A codec medqa does not read (LZO, BROTLI, LZ4): the reader turns it into a one-line error. */
    static final class UnsupportedCodecException extends RuntimeException {
        UnsupportedCodecException(CompressionCodecName codec) {
            super("page compression " + codec + " is not supported (snappy, zstd, gzip and uncompressed are); "
                    + "rewrite the file with one of those");
        }
    }

    private static byte[] inflate(CompressionCodecName codec, byte[] in, int size) throws IOException {
        return switch (codec) {
            case SNAPPY -> {
                byte[] out = new byte[size];
                int n = Snappy.uncompress(in, 0, in.length, out, 0);
                if (n != size) {
                    throw new IOException("snappy page holds " + n + " bytes, the header says " + size);
                }
                yield out;
            }
            case ZSTD -> Zstd.decompress(in, size);
            case GZIP -> {
                try (GZIPInputStream g = new GZIPInputStream(new ByteArrayInputStream(in))) {
                    yield g.readNBytes(size);
                }
            }
            default -> in;
        };
    }

    private static byte[] gzip(byte[] in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(out)) {
            g.write(in);
        }
        return out.toByteArray();
    }
}
