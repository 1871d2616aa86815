package io.medqa.cli;

import io.medqa.testing.TinyRun;
import io.medqa.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainCommandTest {

    @TempDir
    Path tmp;

    private static String[] train(TinyRun run, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--config", "configs/qwen3-lora.yaml"));
        for (String o : run.overrides(extra)) {
            args.add("--set");
            args.add(o);
        }
        return args.toArray(String[]::new);
    }

    private static String[] plus(String[] args, String... more) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    @Test
    void dryRunPrintsConfigDataAndStepsWithoutLoadingOrWriting() throws Exception {
        TinyRun run = new TinyRun(tmp, 20);
        // No weights: a dry run must not need them loaded (only present), so a corrupt file goes unnoticed.
        Files.writeString(run.model.resolve("model.safetensors"), "not safetensors");
        CliTest.Run full = CliTest.run(plus(train(run, "train.micro_batch_size=4", "train.grad_accum_steps=2",
                "train.epochs=3"), "--dry-run"));
        assertEquals(0, full.code(), full.err());
        Pattern summary = Pattern.compile("train: \\S+ \\(.*\\): (\\d+) samples, ([\\d,]+) tokens \\(([\\d,]+) "
                + "answer tokens, longest (\\d+)\\); 0 truncated, (\\d+) skipped as longer than (\\d+) tokens");
        Matcher all = summary.matcher(full.out());
        assertTrue(all.find(), full.out());
        assertEquals("20", all.group(1));
        int longest = Integer.parseInt(all.group(4));
        assertTrue(longest > 0 && longest <= 512, full.out());
        assertTrue(Long.parseLong(all.group(2).replace(",", "")) >= 20L * longest / 2, "tokens of 20 samples");

        // one token shorter than the longest sample: at least that one is skipped, and the steps follow
        CliTest.Run r = CliTest.run(plus(train(run, "train.micro_batch_size=4", "train.grad_accum_steps=2",
                "train.epochs=3", "data.max_seq_len=" + (longest - 1), "data.overlong=skip"), "--dry-run"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("# resolved config"), r.out());
        assertTrue(r.out().contains("micro_batch_size: 4"), r.out());
        Matcher train = summary.matcher(r.out());
        assertTrue(train.find(), r.out());
        int samples = Integer.parseInt(train.group(1));
        int skipped = Integer.parseInt(train.group(5));
        assertTrue(skipped >= 1, r.out());
        assertEquals(20, samples + skipped);
        assertEquals(longest - 1, Integer.parseInt(train.group(6)));
        int perEpoch = (samples + 7) / 8;
        assertTrue(r.out().contains("steps: " + 3 * perEpoch + " (" + perEpoch + " per epoch of 8 samples per step"),
                r.out());
        assertTrue(r.out().contains("validation: "), r.out());
        assertFalse(Files.exists(run.output), "nothing is written");

        CliTest.Run missing = CliTest.run(plus(train(run, "data.train=" + tmp.resolve("nope.jsonl")), "--dry-run"));
        assertEquals(66, missing.code(), missing.err());
        CliTest.Run bf16 = CliTest.run(plus(train(run, "train.precision=bf16"), "--dry-run"));
        assertEquals(65, bf16.code(), bf16.err());
        assertFalse(Files.exists(run.output));
    }

    @Test
    void trainLogHasEveryStepASummaryAndTheTotalTime_andOutputsFollowTheUmask() throws Exception {
        TinyRun run = new TinyRun(tmp, 24);
        CliTest.Run r = CliTest.run(train(run, "train.max_steps=3"));
        assertEquals(0, r.code(), r.err());
        String log = Files.readString(run.output.resolve("train.log"));
        for (int step = 1; step <= 3; step++) {
            assertTrue(Pattern.compile("step " + step + "/3 epoch [0-9.]+ loss [0-9.]+ lr \\S+ grad_norm [0-9.]+ tok/s \\d+ "
                    + "elapsed [0-9.]+s").matcher(log).find(), log);
        }
        assertTrue(Pattern.compile("finished: steps 1-3 of 3, epoch [0-9.]+, final loss [0-9.]+(, last eval_loss [0-9.]+)?, 0 skipped step\\(s\\), "
                + "[\\d,]+ tokens \\([\\d,]+ tok/s\\); total time 00:\\d\\d \\([0-9.]+ s\\)").matcher(log).find(), log);
        // the console shows the bar (not the per-step log lines), with epoch and elapsed time
        assertFalse(r.err().contains("grad_norm"), r.err());
        assertTrue(Pattern.compile("step 3/3 \\[#+\\] 100% epoch [0-9.]+ loss .* tok/s \\d\\d:\\d\\d elapsed, ETA")
                .matcher(r.err()).find(), r.err());

        Path plain = tmp.resolve("plain");
        try (OutputStream out = Files.newOutputStream(plain)) {
            out.write('x');
        }
        Set<PosixFilePermission> umaskMode = Files.getPosixFilePermissions(plain);
        for (String f : new String[] {"adapter_model.safetensors", "adapter_config.json", "run.json", "metrics.jsonl",
                "config.yaml", "loss_curve.png", "train.log"}) {
            assertEquals(umaskMode, Files.getPosixFilePermissions(run.output.resolve(f)), f);
        }
    }

    @Test
    void tokensPerSecondIsAveragedOverRecentSteps() {
        TrainProgress progress = new TrainProgress(new PrintWriter(new StringWriter()));
        progress.started(1, 100, "");
        double elapsed = 0;
        double last = 0;
        for (int step = 1; step <= 40; step++) {
            // alternate a 1,000-token step taking 1 s with a 10-token step taking 1 s: 505 tok/s on average
            long tokens = step % 2 == 0 ? 1000 : 10;
            elapsed += 1.0;
            last = progress.smoothedTokensPerSecond(new Trainer.StepRecord(step, 100, 1.0, 1e-4, 1.0, 1.0, false, tokens,
                    tokens, elapsed, 0.1));
        }
        assertEquals(505, last, 1e-9, "20 steps of alternating lengths average to 505 tok/s, not the last step's 1000");
    }
}
