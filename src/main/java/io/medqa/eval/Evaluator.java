package io.medqa.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.data.McqReader;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.model.Generator;
import io.medqa.model.Qwen3Model;
import io.medqa.model.QwenTokenizer;
import io.medqa.model.Sampling;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Accuracy on a multiple-choice file. loglik: one forward pass per question, each option scored by
 * the log-probability of its letter as the answer, batched. generate: the model writes its answer
 * (greedy) and the letter is read from it; an answer without a readable letter counts as wrong.
 * predictions.jsonl is written as questions are scored, under a temporary name renamed at the end.
 */
public final class Evaluator {

    public enum Mode { LOGLIK, GENERATE }

    public enum PromptStyle { CHAT, LM_EVAL }

    public record Options(Mode mode, PromptStyle style, long limit, int batchSize, int maxNewTokens) {}

    /** Progress callback: questions done so far. */
    public interface Progress {
        void update(long done);
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = LoggerFactory.getLogger(Evaluator.class);

    private final Qwen3Model model;
    private final QwenTokenizer tokenizer;
    private final Options options;
    private long nonFinite;

    public Evaluator(Qwen3Model model, QwenTokenizer tokenizer, Options options) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.options = options;
    }

    /** Questions an evaluation of {@code source} will score (a full validating pass, limit applied). */
    public long count(McqReader.Source source) {
        long n = 0;
        try (McqReader.Samples s = McqReader.open(source)) {
            while (s.hasNext() && (options.limit() <= 0 || n < options.limit())) {
                s.next();
                n++;
            }
        }
        return n;
    }

    /** Scores every question; writes predictions.jsonl to {@code outDir}, or nowhere when it is null. */
    public EvalReport run(McqReader.Source source, Path outDir, Progress progress) {
        EvalReport report = new EvalReport();
        if (outDir == null) {
            try (BufferedWriter nowhere = new BufferedWriter(Writer.nullWriter())) {
                scoreAll(source, progress, report, nowhere);
            } catch (IOException e) {
                throw new IllegalStateException("a null writer failed", e);
            }
            return report;
        }
        Path predictions = outDir.resolve("predictions.jsonl");
        Path temp = outDir.resolve(".predictions.jsonl.tmp");
        try {
            Files.createDirectories(outDir);
            try (BufferedWriter out = Files.newBufferedWriter(temp, StandardCharsets.UTF_8)) {
                scoreAll(source, progress, report, out);
            }
            Files.move(temp, predictions, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, predictions + ": cannot write: " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // a leftover .tmp is named as such
            }
        }
        if (nonFinite > 0) {
            LOG.warn("{} of the questions had non-finite logits", nonFinite);
        }
        return report;
    }

    private void scoreAll(McqReader.Source source, Progress progress, EvalReport report, BufferedWriter out)
            throws IOException {
        Function<List<McqSample>, double[][]> scorer = options.mode() == Mode.LOGLIK ? scorer(source) : null;
        Generator generator = options.mode() == Mode.GENERATE
                ? new Generator(model, tokenizer.stopIds(model.config())) : null;
        try (McqReader.Samples samples = McqReader.open(source)) {
            long done = 0;
            List<McqSample> batch = new ArrayList<>();
            while (samples.hasNext() && (options.limit() <= 0 || done + batch.size() < options.limit())) {
                batch.add(samples.next());
                if (batch.size() == options.batchSize() || options.mode() == Mode.GENERATE) {
                    done += score(batch, scorer, generator, source, report, out);
                    batch.clear();
                    progress.update(done);
                }
            }
            if (!batch.isEmpty()) {
                done += score(batch, scorer, generator, source, report, out);
                progress.update(done);
            }
        }
    }

    /** chat: the trained prompt and its answer letter; lm-eval: the harness's prompt and continuations. */
    private Function<List<McqSample>, double[][]> scorer(McqReader.Source source) {
        if (options.style() == PromptStyle.CHAT) {
            return LetterScorer.chat(model, tokenizer)::score;
        }
        return new ChoiceScorer(model, tokenizer, s -> new ChoiceScorer.Request(PromptFormat.lmEval(s, source.format()),
                PromptFormat.lmEvalChoices(s, source.format()).stream().map(c -> " " + c).toList()))::score;
    }

    private int score(List<McqSample> batch, Function<List<McqSample>, double[][]> scorer, Generator generator,
                      McqReader.Source source, EvalReport report, BufferedWriter out) throws IOException {
        if (scorer != null) {
            double[][] scores = scorer.apply(batch);
            for (int i = 0; i < batch.size(); i++) {
                McqSample s = batch.get(i);
                warnIfNonFinite(s, scores[i]);
                int predicted = LetterScorer.argmax(scores[i]);
                report.add(s, predicted);
                ObjectNode line = line(s, predicted);
                ObjectNode lp = line.putObject("logprobs");
                for (int o = 0; o < scores[i].length; o++) {
                    lp.put(String.valueOf(McqSample.LETTERS.charAt(o)), scores[i][o]);
                }
                out.write(line.toString());
                out.newLine();
            }
            return batch.size();
        }
        for (McqSample s : batch) {
            String prompt = options.style() == PromptStyle.CHAT
                    ? PromptFormat.prompt(s)
                    : PromptFormat.lmEval(s, source.format());
            Generator.Result r;
            try {
                r = generator.generate(tokenizer.encode(prompt), options.maxNewTokens(), Sampling.GREEDY, id -> { });
            } catch (MedqaException e) {
                throw new MedqaException(e.exitCode(), s.source() + ": " + e.getMessage(), e);
            }
            String text = tokenizer.decode(r.generated(), true);
            int predicted = PromptFormat.parseLetter(options.style() == PromptStyle.CHAT ? text : "Answer:" + text,
                    s.options().size());
            report.add(s, predicted);
            ObjectNode line = line(s, predicted);
            line.put("text", text);
            out.write(line.toString());
            out.newLine();
        }
        return batch.size();
    }

    /**
     * NaN or infinite letter scores mean broken weights (adapters are checked when read; a base model
     * is not): the argmax would answer "A" every time and the accuracy would look like a real number.
     */
    private void warnIfNonFinite(McqSample s, double[] scores) {
        for (double v : scores) {
            if (!Double.isFinite(v)) {
                if (nonFinite++ == 0) {
                    LOG.warn("{}: the model's logits are not finite (NaN or infinity); its answers are meaningless. "
                            + "Check the model's weights for NaN", s.source());
                }
                return;
            }
        }
    }

    /** Questions whose letter scores were NaN or infinite in the last run. */
    public long nonFiniteQuestions() {
        return nonFinite;
    }

    private static ObjectNode line(McqSample s, int predicted) {
        ObjectNode n = JSON.createObjectNode();
        n.put("id", s.id());
        n.put("source", s.source());
        n.put("subject", s.subject());
        n.put("gold", String.valueOf(s.answerLetter()));
        if (predicted >= 0) {
            n.put("predicted", String.valueOf(McqSample.LETTERS.charAt(predicted)));
        } else {
            n.putNull("predicted");
        }
        n.put("correct", predicted == s.answer());
        return n;
    }
}
