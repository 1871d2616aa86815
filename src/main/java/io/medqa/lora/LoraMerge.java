package io.medqa.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.HalfFloats;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.model.Checkpoint;
import io.medqa.model.Devices;
import io.medqa.model.Qwen3Config;
import io.medqa.model.Qwen3Layer;
import io.medqa.model.Tensors;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes a complete Hugging Face folder whose projections are W' = W + scale * B A: the base's
 * config and tokenizer files, and its weight files with the same names, tensor order, dtypes and shard
 * layout. Merged tensors are computed in double and rounded to the tensor's dtype; every other tensor is
 * copied byte for byte. One tensor is in memory at a time. The folder is assembled under a temporary
 * name and renamed.
 */
public final class LoraMerge {

    private static final ObjectMapper JSON = new ObjectMapper();

    private LoraMerge() {}

    /** @return the number of merged projections */
    public static int merge(Path baseDir, Path adapterDir, Path outDir) {
        Qwen3Config config = Qwen3Config.load(baseDir);
        AdapterFiles.Loaded adapter = AdapterFiles.read(adapterDir, config);
        double scale = adapter.config().scale();
        if (Files.exists(outDir)) {
            throw new MedqaException(ExitCodes.IO, outDir + ": already exists; choose a new --out folder");
        }
        Path temp = outDir.resolveSibling("." + outDir.getFileName() + ".partial");
        int merged = 0;
        try {
            deleteTree(temp);
            Files.createDirectories(temp);
            try (Stream<Path> files = Files.list(baseDir)) {
                for (Path f : files.toList()) {
                    String name = f.getFileName().toString();
                    if (Files.isRegularFile(f) && !name.endsWith(".safetensors") && !name.equals(Checkpoint.INDEX)) {
                        Files.copy(f, temp.resolve(name));
                    }
                }
            }
            Map<String, String> targets = new LinkedHashMap<>(); // weight name -> "layer/module"
            for (int i = 0; i < config.numHiddenLayers(); i++) {
                for (String module : adapter.config().targetModules()) {
                    if (adapter.weights().containsKey(LoraAdapter.key(i, module, "lora_A"))) {
                        targets.put("model.layers." + i + "." + Qwen3Layer.modulePath(module) + ".weight", i + "/" + module);
                    }
                }
            }
            long totalSize = 0;
            List<Path> weightFiles = Checkpoint.weightFiles(baseDir);
            for (Path source : weightFiles) {
                if (source.getFileName().toString().equals(Checkpoint.INDEX)) {
                    continue;
                }
                try (SafetensorsFile in = SafetensorsFile.open(source)) {
                    checkTargets(in, targets, config);
                    List<SafetensorsWriter.Spec> specs = new ArrayList<>();
                    for (SafetensorsFile.TensorInfo t : in.tensors().values()) {
                        specs.add(new SafetensorsWriter.Spec(t.name(), t.dtype(), t.shape()));
                        totalSize += t.end() - t.begin();
                    }
                    int[] count = {0};
                    SafetensorsWriter.writeStreaming(temp.resolve(source.getFileName()), in.metadata(), specs,
                            (spec, out) -> {
                                String target = targets.get(spec.name());
                                if (target == null) {
                                    copy(in.map(spec.name()), out);
                                } else {
                                    String[] lm = target.split("/");
                                    int layer = Integer.parseInt(lm[0]);
                                    float[] w = in.readFloats(spec.name());
                                    float[] a = adapter.weights().get(LoraAdapter.key(layer, lm[1], "lora_A"));
                                    float[] b = adapter.weights().get(LoraAdapter.key(layer, lm[1], "lora_B"));
                                    addLowRank(w, a, b, (int) spec.shape()[0], (int) spec.shape()[1],
                                            adapter.config().r(), scale);
                                    out.write(encode(w, spec.dtype()));
                                    count[0]++;
                                }
                            });
                    merged += count[0];
                }
            }
            if (merged != targets.size()) {
                throw new MedqaException(ExitCodes.DATA, baseDir + ": " + (targets.size() - merged)
                        + " adapted projections were not found among the base's tensors");
            }
            Path index = baseDir.resolve(Checkpoint.INDEX);
            if (Files.isRegularFile(index)) {
                ObjectNode root = (ObjectNode) JSON.readTree(index.toFile());
                JsonNode meta = root.get("metadata");
                ObjectNode m = meta instanceof ObjectNode o ? o : root.putObject("metadata");
                m.put("total_size", totalSize);
                Files.writeString(temp.resolve(Checkpoint.INDEX), root.toPrettyString());
            }
            Files.move(temp, outDir, StandardCopyOption.ATOMIC_MOVE);
            return merged;
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, outDir + ": cannot write: " + e.getMessage(), e);
        } finally {
            try {
                deleteTree(temp);
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    /**
     * A projection to merge must have the shape config.json gives it (the adapter was checked against
     * that shape) and a float dtype: anything else is a base that does not match its own config.
     */
    private static void checkTargets(SafetensorsFile in, Map<String, String> targets, Qwen3Config config) {
        for (SafetensorsFile.TensorInfo t : in.tensors().values()) {
            String target = targets.get(t.name());
            if (target == null) {
                continue;
            }
            long[] expected = config.projectionShape(target.split("/")[1]);
            if (!java.util.Arrays.equals(t.shape(), expected)) {
                throw new MedqaException(ExitCodes.DATA, in.path() + ": tensor " + t.name() + " has shape "
                        + java.util.Arrays.toString(t.shape()) + ", expected " + java.util.Arrays.toString(expected)
                        + " from config.json");
            }
            if (!List.of("F32", "F16", "BF16").contains(t.dtype())) {
                throw new MedqaException(ExitCodes.DATA, in.path() + ": tensor " + t.name() + " has dtype " + t.dtype()
                        + "; only F32, F16 and BF16 projections can be merged");
            }
        }
    }

    /**
     * w (out, in) += scale * b (out, r) a (r, in), as PEFT's merge_and_unload computes it: the delta
     * (B @ A) * scaling by libtorch in fp32 (get_delta_weight, the same matrix product), then added in
     * fp32 ({@code weight.data += delta} promotes to fp32) and rounded to the base's dtype once, when
     * the caller encodes it. Computed in double instead, the sum can round to a neighbouring bf16.
     */
    static void addLowRank(float[] w, float[] a, float[] b, int out, int in, int r, double scale) {
        float[] delta;
        try (NDManager m = Devices.engine().newBaseManager(ai.djl.Device.cpu())) {
            NDArray bm = Tensors.fromHost(m, b, new Shape(out, r));
            NDArray am = Tensors.fromHost(m, a, new Shape(r, in));
            delta = bm.matMul(am).mul(Tensors.scalar(m, (float) scale)).toFloatArray();
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = w[i] + delta[i]; // fp32 addition
        }
    }

    private static byte[] encode(float[] values, String dtype) {
        int width = SafetensorsFile.bytesPerElement(dtype);
        ByteBuffer buf = ByteBuffer.allocate(values.length * width).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case "F32" -> buf.putFloat(v);
                case "F16" -> buf.putShort(HalfFloats.floatToF16(v));
                default -> buf.putShort(HalfFloats.floatToBf16(v));
            }
        }
        return buf.array();
    }

    private static void copy(ByteBuffer src, OutputStream out) throws IOException {
        byte[] chunk = new byte[1 << 20];
        ByteBuffer b = src.duplicate();
        while (b.hasRemaining()) {
            int n = Math.min(chunk.length, b.remaining());
            b.get(chunk, 0, n);
            out.write(chunk, 0, n);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
