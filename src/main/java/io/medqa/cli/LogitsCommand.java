package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.bench.SyntheticTokens;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.LoraAdapter;
import io.medqa.model.Qwen3Config;
import io.medqa.model.Attention;
import io.medqa.model.Qwen3Model;
import io.medqa.model.Tensors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code medqa logits}: a forward pass's logits written to a file, to compare with another implementation. */
@Command(name = "logits",
        description = "Run the forward pass of a model (with its adapter) on token ids and write the ids and the "
                + "float32 logits to a safetensors file (input_ids (rows, seq_len) int64; logits (rows, seq_len, vocab), "
                + "or (rows, 1, vocab) with --positions last). The ids are synthetic (SplitMix64 from --seed, as medqa "
                + "bench draws them) or read from --input-ids. bench/hf_parity.py compares the file with Hugging Face "
                + "transformers (and PEFT for an adapter) on the same folder: see docs/benchmarks.md.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa logits --model ./Qwen3-1.7B --device cpu --dtype fp32 --out logits.safetensors",
            "  medqa logits --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa --rows 2 --seq-len 64 \\",
            "      --device gpu --dtype fp16 --out lora-fp16.safetensors",
            "  medqa logits --model ./Qwen3-1.7B --input-ids ids.safetensors --positions last --out last.safetensors",
            "  python bench/hf_parity.py compare --model ./Qwen3-1.7B --medqa logits.safetensors --device cpu"
        })
final class LogitsCommand extends BaseCommand {

    /** Logits are copied to the host this many positions at a time, so the Java heap holds little of them. */
    private static final int CHUNK_POSITIONS = 8;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face Qwen3 model folder "
            + "(config.json and *.safetensors; no tokenizer needed).")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT LoRA adapter folder, applied on the fly as "
            + "medqa eval applies it.")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The safetensors file to write "
            + "(atomically: written under a temporary name, then renamed).")
    Path out;

    @Option(names = "--rows", paramLabel = "R", description = "Synthetic sequences (default: 2).")
    Integer rows;

    @Option(names = "--seq-len", paramLabel = "T", description = "Tokens per synthetic sequence (default: 64).")
    Integer seqLen;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
            description = "Seed of the synthetic ids: token = SplitMix64 output mod vocab_size (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--input-ids", paramLabel = "FILE", description = "Read the ids instead: a safetensors file "
            + "with an I64 or I32 tensor input_ids (or a single tensor) of shape (rows, seq_len) or (seq_len).")
    Path inputIds;

    @Option(names = "--positions", paramLabel = "all|last", defaultValue = "all",
            description = "Write the logits at every position, or at each row's last one (default: ${DEFAULT-VALUE}).")
    String positions;

    @Mixin
    ComputeOptions compute;

    @Override
    int run() {
        if (!positions.equals("all") && !positions.equals("last")) {
            throw new MedqaException(ExitCodes.USAGE, "--positions must be all or last, got " + positions);
        }
        if (inputIds != null && (rows != null || seqLen != null)) {
            throw new MedqaException(ExitCodes.USAGE, "--input-ids gives the shape; leave out --rows and --seq-len");
        }
        int r = rows == null ? 2 : rows;
        int t = seqLen == null ? 64 : seqLen;
        if (r < 1) {
            throw new MedqaException(ExitCodes.USAGE, "--rows must be at least 1, got " + r);
        }
        if (t < 1) {
            throw new MedqaException(ExitCodes.USAGE, "--seq-len must be at least 1, got " + t);
        }
        if (Files.isDirectory(out)) {
            throw new MedqaException(ExitCodes.USAGE, "--out " + out + " is a folder; give a file name");
        }
        Qwen3Config config = Qwen3Config.load(model);
        long[][] ids = inputIds != null ? readIds(inputIds, config.vocabSize()) : synthetic(r, t, config.vocabSize());
        r = ids.length;
        t = ids[0].length;
        if ((long) r * t > Integer.MAX_VALUE / 2) {
            throw new MedqaException(ExitCodes.USAGE, "rows x seq_len = " + (long) r * t + " tokens is too many");
        }
        Device device = compute.resolveDevice();
        DataType dtype = compute.resolveDtype(device);
        Attention attention = compute.resolveAttention();

        long t0 = System.nanoTime();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("medqa_version", io.medqa.Version.get());
        meta.put("model", model.toAbsolutePath().normalize().toString());
        meta.put("adapter", adapter == null ? "" : adapter.toAbsolutePath().normalize().toString());
        meta.put("dtype", dtype == DataType.FLOAT16 ? "fp16" : "fp32");
        meta.put("device", device.toString());
        meta.put("attention", attention.id());
        meta.put("positions", positions);
        meta.put("input_ids", inputIds == null ? "synthetic" : inputIds.toAbsolutePath().normalize().toString());
        meta.put("seed", inputIds == null ? Long.toString(seed) : "");
        meta.put("vocab_size", Integer.toString(config.vocabSize()));
        long kept = positions.equals("all") ? t : 1;
        List<SafetensorsWriter.Spec> specs = List.of(
                new SafetensorsWriter.Spec("input_ids", "I64", new long[] {r, t}),
                new SafetensorsWriter.Spec("logits", "F32", new long[] {r, kept, config.vocabSize()}));
        Stats stats = new Stats();
        final int rowsF = r;
        final int seqF = t;
        try (Qwen3Model m = Qwen3Model.load(model, device, dtype);
             LoraAdapter lora = adapter == null ? null : LoraAdapter.load(m, adapter);
             NDManager step = m.manager().newSubManager();
             NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            m.setAttention(attention);
            long[] flat = new long[rowsF * seqF];
            for (int i = 0; i < rowsF; i++) {
                System.arraycopy(ids[i], 0, flat, i * seqF, seqF);
            }
            NDArray input = Tensors.fromHost(step, flat, new Shape(rowsF, seqF));
            NDArray hidden = m.forward(input, null, false); // (rows, seq_len, hidden)
            if (kept == 1) {
                hidden = hidden.get(new NDIndex(":, -1:, :")); // (rows, 1, hidden)
            }
            NDArray states = hidden;
            SafetensorsWriter.writeStreaming(out, meta, specs, (spec, os) -> {
                if (spec.name().equals("input_ids")) {
                    writeLongs(os, flat);
                    return;
                }
                for (int i = 0; i < rowsF; i++) {
                    for (long p = 0; p < kept; p += CHUNK_POSITIONS) {
                        long end = Math.min(kept, p + CHUNK_POSITIONS);
                        float[] values;
                        try (NDScope chunk = new NDScope()) {
                            chunk.suppressNotUsedWarning();
                            NDArray h = states.get(new NDIndex("{}, {}:{}, :", i, p, end)); // (chunk, hidden)
                            values = m.logits(h).toType(DataType.FLOAT32, false).toFloatArray();
                        }
                        stats.add(values);
                        writeFloats(os, values);
                    }
                }
            });
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        out().printf(Locale.ROOT, "wrote %s: logits %d x %d x %d (%s positions) of %s%s on %s in %s, |logit| max %.4g, "
                        + "%d non-finite, %.1f s%n", out, r, kept, config.vocabSize(), positions, model,
                adapter == null ? "" : " + adapter " + adapter, device, meta.get("dtype"), stats.maxAbs,
                stats.nonFinite, seconds);
        if (stats.nonFinite > 0) {
            throw new MedqaException(ExitCodes.SOFTWARE, stats.nonFinite + " logits are NaN or infinite (the file is "
                    + "written, to look at them)");
        }
        return ExitCodes.OK;
    }

    private long[][] synthetic(int r, int t, int vocab) {
        int[][] drawn = new SyntheticTokens(seed, vocab).rows(r, t);
        long[][] ids = new long[r][t];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < t; j++) {
                ids[i][j] = drawn[i][j];
            }
        }
        return ids;
    }

    /** The ids of an input_ids tensor (or the file's only tensor), each checked against the vocabulary. */
    static long[][] readIds(Path file, int vocab) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            SafetensorsFile.TensorInfo info = f.tensors().get("input_ids");
            if (info == null && f.tensors().size() == 1) {
                info = f.tensors().values().iterator().next();
            }
            if (info == null) {
                throw new MedqaException(ExitCodes.DATA, file + ": no tensor input_ids (tensors: "
                        + String.join(", ", f.tensors().keySet()) + ")");
            }
            if (!info.dtype().equals("I64") && !info.dtype().equals("I32")) {
                throw new MedqaException(ExitCodes.DATA, file + ": " + info.name() + " is " + info.dtype()
                        + "; token ids must be I64 or I32");
            }
            long[] shape = info.shape();
            if (shape.length < 1 || shape.length > 2 || info.numel() == 0) {
                throw new MedqaException(ExitCodes.DATA, file + ": " + info.name() + " has shape "
                        + java.util.Arrays.toString(shape) + "; expected (rows, seq_len) or (seq_len), not empty");
            }
            int r = shape.length == 2 ? Math.toIntExact(shape[0]) : 1;
            int t = Math.toIntExact(shape[shape.length - 1]);
            ByteBuffer bytes = f.map(info.name()).order(ByteOrder.LITTLE_ENDIAN);
            long[][] ids = new long[r][t];
            for (int i = 0; i < r; i++) {
                for (int j = 0; j < t; j++) {
                    int k = i * t + j;
                    long id = info.dtype().equals("I64") ? bytes.getLong(k * 8) : bytes.getInt(k * 4);
                    if (id < 0 || id >= vocab) {
                        throw new MedqaException(ExitCodes.DATA, file + ": " + info.name() + "[" + i + ", " + j
                                + "] = " + id + " is outside the vocabulary [0, " + vocab + ")");
                    }
                    ids[i][j] = id;
                }
            }
            return ids;
        }
    }

    private static void writeLongs(OutputStream os, long[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        os.write(b.array());
    }

    private static void writeFloats(OutputStream os, float[] values) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        os.write(b.array());
    }

    /** The largest |logit| and the count of NaN or infinite ones, for the summary line. */
    private static final class Stats {
        double maxAbs;
        long nonFinite;

        void add(float[] values) {
            for (float v : values) {
                if (!Float.isFinite(v)) {
                    nonFinite++;
                } else {
                    maxAbs = Math.max(maxAbs, Math.abs(v));
                }
            }
        }
    }
}
