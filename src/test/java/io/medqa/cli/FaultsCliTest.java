package io.medqa.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.io.SafetensorsFile;
import io.medqa.io.SafetensorsWriter;
import io.medqa.lora.LoraAdapter;
import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input and faults around training runs, through the CLI in process: run folders and their identity,
 * resume, a setup that fails, bad data lines, --set errors and devices. Each refusal is one line with the
 * documented exit code, and a user's finished output is never touched.
 */
class FaultsCliTest {

    @TempDir
    Path tmp;

    TinyRun run;
    Path config;

    @BeforeEach
    void setUp() throws Exception {
        run = new TinyRun(tmp, 24);
        config = Files.writeString(tmp.resolve("c.yaml"), "model:\n  path: " + run.model + "\n");
    }

    /** train with the tiny run's settings (4 steps, a checkpoint every 2) plus {@code extra}. */
    private CliTest.Run train(String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--config", config.toString()));
        for (String o : run.overrides("train.max_steps=4", "train.save_steps=2", "train.save_total_limit=3",
                "train.micro_batch_size=4", "train.eval_steps=0")) {
            args.add("--set");
            args.add(o);
        }
        args.addAll(List.of(extra));
        return CliTest.run(args.toArray(String[]::new));
    }

    private static void refused(CliTest.Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), "one line expected: " + r.err());
        assertTrue(r.err().startsWith("medqa: error: "), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "missing \"" + f + "\" in " + r.err());
        }
    }

    private static JsonNode json(Path file) throws Exception {
        return new ObjectMapper().readTree(file.toFile());
    }

    @Test
    void aFreshRunIntoAFolderHoldingAnotherRunIsRefusedUnlessOverwrite() throws Exception {
        assertEquals(0, train().code());
        Path adapter = run.output.resolve(LoraAdapter.WEIGHTS_FILE);
        byte[] finished = Files.readAllBytes(adapter);
        String firstId = json(run.output.resolve("run.json")).get("run_id").asText();
        assertEquals(firstId, json(run.output.resolve("checkpoint-2/trainer_state.json")).get("runId").asText());
        String log = Files.readString(run.output.resolve("train.log"));

        refused(train("--set", "train.seed=9"), ExitCodes.IO, run.output + ": holds another run (run.json, status "
                + "completed, 1 checkpoint(s) up to checkpoint-2, a final adapter)", "--overwrite");
        assertArrayEquals(finished, Files.readAllBytes(adapter));
        assertEquals(log, Files.readString(run.output.resolve("train.log")));

        // only checkpoints left (a run killed before its end): still another run
        Files.delete(run.output.resolve("run.json"));
        Files.delete(adapter);
        refused(train(), ExitCodes.IO, "holds another run (1 checkpoint(s) up to checkpoint-2)");

        // --overwrite with a run that fails its setup keeps the old run as it was
        Files.writeString(run.output.resolve("notes.txt"), "mine");
        refused(train("--overwrite", "--set", "data.train=" + tmp.resolve("typo.jsonl")), ExitCodes.NO_INPUT, "typo.jsonl");
        assertTrue(Files.isDirectory(run.output.resolve("checkpoint-2")));
        assertEquals("mine", Files.readString(run.output.resolve("notes.txt")));
        assertEquals(log, Files.readString(run.output.resolve("train.log")));
        assertFalse(Files.exists(run.output.resolve(".medqa-overwritten")));

        CliTest.Run over = train("--overwrite", "--set", "train.seed=9");
        assertEquals(0, over.code(), over.err());
        String secondId = json(run.output.resolve("run.json")).get("run_id").asText();
        assertNotEquals(firstId, secondId);
        assertEquals(secondId, json(run.output.resolve("checkpoint-2/trainer_state.json")).get("runId").asText());
        assertFalse(Files.exists(run.output.resolve("notes.txt")));
        assertFalse(Files.exists(run.output.resolve(".medqa-overwritten")));
        assertFalse(Files.readString(run.output.resolve("train.log")).contains(log.lines().findFirst().orElseThrow()));
        refused(train("--overwrite", "--resume"), ExitCodes.USAGE, "--resume and --overwrite exclude each other");
    }

    @Test
    void resumeOfACompletedRunSaysSoAndTouchesNothing() throws Exception {
        assertEquals(0, train().code());
        Path adapter = run.output.resolve(LoraAdapter.WEIGHTS_FILE);
        byte[] finished = Files.readAllBytes(adapter);
        long modified = Files.getLastModifiedTime(adapter).toMillis();
        String metrics = Files.readString(run.output.resolve("metrics.jsonl"));
        for (String[] resume : new String[][] {{"--resume"}, {"--resume", run.output.toString()},
                {"--resume", run.output.resolve("checkpoint-2").toString()}}) {
            CliTest.Run r = train(resume);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains(run.output + ": the run is complete (4 steps"), r.err());
            assertArrayEquals(finished, Files.readAllBytes(adapter));
            assertEquals(modified, Files.getLastModifiedTime(adapter).toMillis());
            assertEquals(metrics, Files.readString(run.output.resolve("metrics.jsonl")));
        }
        CliTest.Run byFolder = CliTest.run("train", "--resume", run.output.toString());
        assertEquals(0, byFolder.code(), byFolder.err());
        assertTrue(byFolder.err().contains("the run is complete"), byFolder.err());
    }

    /** A run killed after its checkpoint-2: run.json says running, there is no final adapter. */
    private void killAfterCheckpoint(Path out) throws Exception {
        Path runJson = out.resolve("run.json");
        ObjectNode n = (ObjectNode) json(runJson);
        n.put("status", "running");
        Files.writeString(runJson, n.toPrettyString());
        Files.delete(out.resolve(LoraAdapter.WEIGHTS_FILE));
        Files.delete(out.resolve(LoraAdapter.CONFIG_FILE));
    }

    @Test
    void resumeByRunFolderContinuesThatRunAndRefusesAnotherRunsCheckpoint() throws Exception {
        Path other = tmp.resolve("other");
        assertEquals(0, train("--set", "output.dir=" + other).code());
        assertEquals(0, train().code());
        killAfterCheckpoint(run.output);

        refused(train("--resume", other.resolve("checkpoint-2").toString()), ExitCodes.DATA,
                other.resolve("checkpoint-2") + ": this checkpoint belongs to another run");
        assertFalse(Files.exists(run.output.resolve(LoraAdapter.WEIGHTS_FILE)));

        // the run folder alone is enough: its own config (with every --set it was given) is used
        CliTest.Run r = CliTest.run("train", "--resume", run.output.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(run.output.resolve(LoraAdapter.WEIGHTS_FILE)));
        JsonNode done = json(run.output.resolve("run.json"));
        assertEquals("completed", done.get("status").asText());
        assertEquals(4, done.get("steps").asInt());
        assertEquals(json(run.output.resolve("checkpoint-2/trainer_state.json")).get("runId"), done.get("run_id"));

        refused(CliTest.run("train", "--resume", tmp.resolve("nowhere").toString()), ExitCodes.NO_INPUT,
                "nowhere: run or checkpoint folder not found");
        refused(CliTest.run("train"), ExitCodes.USAGE, "give --config FILE, or --resume RUN_DIR");
    }

    @Test
    void brokenCheckpointsAreRefusedInOneLine() throws Exception {
        assertEquals(0, train().code());
        killAfterCheckpoint(run.output);
        Path ckpt = run.output.resolve("checkpoint-2");

        refused(train("--resume", "--set", "lora.r=4"), ExitCodes.DATA,
                ckpt + ": the checkpoint was trained with lora.r 8 (config: 4)");
        refused(train("--resume", "--set", "lora.target_modules=[q_proj]"), ExitCodes.DATA, "lora.target_modules");

        Path optimizer = ckpt.resolve("optimizer.safetensors");
        byte[] saved = Files.readAllBytes(optimizer);
        Map<String, float[]> moments = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(optimizer)) {
            for (String name : f.tensors().keySet()) {
                moments.put(name, f.readFloats(name));
                shapes.put(name, f.info(name).shape());
            }
        }
        rewrite(optimizer, moments, shapes, "v.3", null);
        refused(train("--resume"), ExitCodes.DATA, optimizer + ": moment v.3 (for ", "is missing");
        rewrite(optimizer, moments, shapes, "m.0", new float[] {1, 2, 3});
        refused(train("--resume"), ExitCodes.DATA, "moment m.0", "is of size 3, expected");
        float[] nan = moments.get("m.1").clone();
        nan[0] = Float.NaN;
        rewrite(optimizer, moments, shapes, "m.1", nan);
        refused(train("--resume"), ExitCodes.DATA, "moment m.1 holds non-finite values");
        Files.write(optimizer, saved);

        Path state = ckpt.resolve("trainer_state.json");
        String goodState = Files.readString(state);
        Files.writeString(state, "{\"step\": 2,\n \"epoch\": }");
        refused(train("--resume"), ExitCodes.DATA, state + ": ");
        Files.writeString(state, goodState.replaceFirst("\"step\" ?: ?2", "\"step\": -3"));
        refused(train("--resume"), ExitCodes.DATA, state + ": impossible values (step -3");
        Files.writeString(state, goodState);
        CliTest.Run r = train("--resume");
        assertEquals(0, r.code(), r.err());
    }

    private static void rewrite(Path file, Map<String, float[]> moments, Map<String, long[]> shapes, String key,
                                float[] replacement) {
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "medqa-adamw");
        moments.forEach((k, v) -> {
            if (!k.equals(key)) {
                w.add(k, "F32", shapes.get(k), v);
            } else if (replacement != null) {
                w.add(k, "F32", new long[] {replacement.length}, replacement);
            }
        });
        w.write(file);
    }

    @Test
    void aRunRejectedDuringSetupLeavesNothingBehind() throws Exception {
        Path fresh = tmp.resolve("fresh");
        refused(train("--set", "output.dir=" + fresh, "--set", "data.train=" + tmp.resolve("missing.jsonl")),
                ExitCodes.NO_INPUT, "missing.jsonl: file not found");
        assertFalse(Files.exists(fresh));

        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), Files.readString(run.train) + "{\"question\": \n");
        refused(train("--set", "output.dir=" + fresh, "--set", "data.train=" + bad), ExitCodes.DATA, bad + ":25: malformed JSON");
        assertFalse(Files.exists(fresh));
        refused(train("--set", "output.dir=" + fresh, "--set", "model.path=" + tmp.resolve("no-model")), ExitCodes.NO_INPUT,
                "no-model: model folder not found");
        assertFalse(Files.exists(fresh));

        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Files.writeString(empty.resolve("notes.txt"), "mine");
        refused(train("--set", "output.dir=" + empty, "--set", "train.precision=bf16"), ExitCodes.DATA, "bf16");
        try (var s = Files.list(empty)) {
            assertEquals(List.of(empty.resolve("notes.txt")), s.toList());
        }
        // a config rejected at binding creates nothing either
        refused(train("--set", "output.dir=" + fresh, "--set", "train.lr=-1"), ExitCodes.USAGE, "--set train.lr: must be > 0");
        assertFalse(Files.exists(fresh));
    }

    @Test
    void anOutputFolderThatCannotBeMadeIsAnOutputError() throws Exception {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        refused(train("--set", "output.dir=" + file), ExitCodes.IO, file + ": cannot create the output folder: " + file
                + " is a file, not a folder");
        refused(train("--set", "output.dir=" + file.resolve("sub")), ExitCodes.IO, "cannot create the output folder");
        assertEquals("x", Files.readString(file));
        Path evalOut = file.resolve("eval");
        CliTest.Run eval = CliTest.run("eval", "--data", run.test.toString(), "--model", run.model.toString(), "--limit",
                "2", "--out", evalOut.toString());
        assertEquals(ExitCodes.IO, eval.code(), eval.err());
        String last = eval.err().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("medqa: error: " + evalOut.resolve("predictions.jsonl") + ": cannot write"), last);
    }

    @Test
    void badSetValuesAndUnknownSetKeysAreOneUsageErrorStyle() {
        refused(train("--set", "train.lr=fast"), ExitCodes.USAGE, "medqa: error: --set train.lr: expected a number, got \"fast\"");
        refused(train("--set", "train.lrr=1"), ExitCodes.USAGE, "medqa: error: --set train.lrr: unknown key train.lrr");
        refused(train("--set", "train.max_steps=99999999999"), ExitCodes.USAGE,
                "--set train.max_steps: expected an integer from -2147483648 to 2147483647, got 99999999999");
        refused(CliTest.run("eval", "--config", config.toString(), "--set", "data.max_seq_len=8"), ExitCodes.USAGE,
                "--set data.max_seq_len: must be >= 16, got 8");
        assertFalse(Files.exists(run.output));
    }

    @Test
    void longAndMalformedDataLinesNameTheFileAndLineInTrainEvalAndAsk() throws Exception {
        String rows = Files.readString(run.test);
        String huge = "{\"question\":\"" + "x".repeat(6 << 20) + "\",\"opa\":\"a\",\"opb\":\"b\",\"opc\":\"c\",\"opd\":\"d\","
                + "\"cop\":1}\n";
        Path hugeFile = Files.writeString(tmp.resolve("huge.jsonl"), rows.lines().limit(3).map(l -> l + "\n")
                .reduce("", String::concat) + huge);
        String tooLong = hugeFile + ":4: line is 6291519 bytes long, over the limit of 1048576 bytes (1 MiB)";
        refused(train("--set", "data.train=" + hugeFile), ExitCodes.DATA, tooLong);
        refused(CliTest.run("eval", "--data", hugeFile.toString(), "--model", run.model.toString(), "--out",
                tmp.resolve("e").toString()), ExitCodes.DATA, tooLong);
        refused(CliTest.run("ask", "--model", run.model.toString(), "--input", hugeFile.toString(), "--json"),
                ExitCodes.DATA, tooLong);

        byte[] latin1 = ("{\"question\":\"caf\u00e9?\",\"opa\":\"a\",\"opb\":\"b\",\"opc\":\"c\",\"opd\":\"d\",\"cop\":1}\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        Path bad = tmp.resolve("latin1.jsonl");
        Files.write(bad, concat(rows.lines().limit(2).map(l -> l + "\n").reduce("", String::concat)
                .getBytes(StandardCharsets.UTF_8), latin1));
        refused(CliTest.run("eval", "--data", bad.toString(), "--model", run.model.toString(), "--cop-base", "1", "--out",
                tmp.resolve("e").toString()), ExitCodes.DATA, bad + ":3: not valid UTF-8");
        refused(CliTest.run("ask", "--model", run.model.toString(), "--input", bad.toString(), "--json"),
                ExitCodes.DATA, bad + ":3: not valid UTF-8");
        refused(train("--set", "data.train=" + bad, "--set", "data.format=medmcqa", "--set", "data.cop_base=1"), ExitCodes.DATA,
                bad + ":3: not valid UTF-8");

        Path withBom = tmp.resolve("bom.jsonl");
        Files.write(withBom, concat(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF},
                rows.lines().limit(4).map(l -> l + "\n").reduce("", String::concat).getBytes(StandardCharsets.UTF_8)));
        CliTest.Run ok = CliTest.run("eval", "--data", withBom.toString(), "--model", run.model.toString(), "--out",
                tmp.resolve("e").toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("/4"), ok.out());
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void aGpuThatIsNotThereIsOneLineAndExitCode69() {
        Map<String, String> devices = new LinkedHashMap<>(Map.of("gpu:63", "gpu:63", "cuda:63", "gpu:63"));
        if (io.medqa.model.Devices.engine().getGpuCount() == 0) {
            devices.put("gpu", "gpu:0");
        }
        devices.forEach((device, named) -> refused(CliTest.run("generate", "--model", run.model.toString(), "--prompt-ids",
                "72", "--max-new-tokens", "1", "--device", device), ExitCodes.UNAVAILABLE, named + " requested", "no GPU"));
        refused(train("--device", "gpu:63", "--set", "output.dir=" + tmp.resolve("gpu-run")), ExitCodes.UNAVAILABLE,
                "no GPU");
        assertFalse(Files.exists(tmp.resolve("gpu-run")));
    }
}
