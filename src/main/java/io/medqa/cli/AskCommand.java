package io.medqa.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.data.JsonlLines;
import io.medqa.data.McqSample;
import io.medqa.data.PromptFormat;
import io.medqa.lora.LoadedModel;
import io.medqa.model.Generator;
import io.medqa.model.Sampling;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code medqa ask}: the model's letter and explanation for a question. */
@Command(name = "ask",
        description = "Ask a multiple-choice question: the model answers with a letter and an explanation, streamed "
                + "as it is generated. Questions come from the command line, a JSONL file, or an interactive session.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa ask --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa \\",
            "      \"Which vitamin deficiency causes scurvy?\" \\",
            "      --option A=\"Vitamin A\" --option B=\"Vitamin C\" \\",
            "      --option C=\"Vitamin D\" --option D=\"Vitamin K\"",
            "  medqa ask --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa \\",
            "      --input questions.jsonl --json",
            "  medqa ask --model ./Qwen3-1.7B --adapter runs/qwen3-1.7b-medmcqa   # interactive",
            "  medqa ask --model ./Qwen3-1.7B --json < questions.txt               # typed questions, piped",
            "",
            "Typed questions (interactive, or piped in): a line with the question, then one",
            "line per option, as 'A. text', 'A) text' or plain text (lettered in order); an",
            "empty line ends the options, an empty question line ends the session. Prompts",
            "go to stderr, answers to stdout.",
        })
final class AskCommand extends BaseCommand {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Base model folder.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "LoRA adapter folder, applied on the fly.")
    Path adapter;

    @Parameters(arity = "0..1", paramLabel = "QUESTION", description = "The question (with --option for each choice).")
    String question;

    @Option(names = "--option", paramLabel = "L=TEXT", description = "An answer option, e.g. --option A=\"Vitamin C\". "
            + "2 to 5, lettered A to E.")
    Map<String, String> options = new TreeMap<>();

    @Option(names = "--input", paramLabel = "FILE",
            description = "JSONL of questions: \"question\" with \"options\" {\"A\": ...} (MedQA) or opa..opd (MedMCQA); "
                    + "answers, if present, are ignored.")
    Path input;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "256",
            description = "Most tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--json", description = "One JSON object per question: question, options, letter, explanation, text.")
    boolean json;

    @Mixin
    ComputeOptions compute;

    @Override
    int run() throws Exception {
        if (question != null && input != null) {
            throw new MedqaException(ExitCodes.USAGE, "give a QUESTION or --input FILE, not both");
        }
        if (question == null && !options.isEmpty()) {
            throw new MedqaException(ExitCodes.USAGE, "--option needs a QUESTION: medqa ask ... \"QUESTION\" --option A=...");
        }
        List<McqSample> fromArgs = question != null ? List.of(sample(question, options, "command line")) : null;
        List<McqSample> fromFile = input != null ? readInput(input) : null;
        Device device = compute.resolveDevice();
        DataType dtype = compute.resolveDtype(device);
        try (LoadedModel loaded = LoadedModel.open(model, adapter, device, dtype, compute.resolveAttention())) {
            Generator generator = new Generator(loaded.model, loaded.tokenizer.stopIds(loaded.model.config()));
            if (fromArgs != null || fromFile != null) {
                for (McqSample s : fromArgs != null ? fromArgs : fromFile) {
                    answer(loaded, generator, s);
                }
            } else {
                interactive(loaded, generator);
            }
        }
        return ExitCodes.OK;
    }

    private void answer(LoadedModel loaded, Generator generator, McqSample s) {
        TextStream stream = json ? null : new TextStream(loaded.tokenizer, out());
        Generator.Result r = generator.generate(loaded.tokenizer.encode(PromptFormat.prompt(s)), maxNewTokens,
                Sampling.GREEDY, id -> {
                    if (stream != null) {
                        stream.accept(id);
                    }
                });
        String text = loaded.tokenizer.decode(r.generated(), true);
        if (!json) {
            out().println();
            out().println();
            out().flush();
            return;
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("question", s.question());
        ObjectNode opts = n.putObject("options");
        for (int i = 0; i < s.options().size(); i++) {
            opts.put(String.valueOf(McqSample.LETTERS.charAt(i)), s.options().get(i));
        }
        int letter = PromptFormat.parseLetter(text, s.options().size());
        if (letter >= 0) {
            n.put("letter", String.valueOf(McqSample.LETTERS.charAt(letter)));
        } else {
            n.putNull("letter");
        }
        int e = text.indexOf("Explanation:");
        if (e >= 0) {
            n.put("explanation", text.substring(e + "Explanation:".length()).strip());
        } else {
            n.putNull("explanation");
        }
        n.put("text", text);
        out().println(n.toString());
        out().flush();
    }

    /** A question to ask; the gold answer is unknown (-1) and never read. */
    static McqSample sample(String question, Map<String, String> lettered, String source) {
        if (question.isBlank()) {
            throw new MedqaException(ExitCodes.USAGE, source + ": the question is empty");
        }
        List<String> opts = new ArrayList<>();
        for (int i = 0; i < McqSample.LETTERS.length(); i++) {
            String text = lettered.get(String.valueOf(McqSample.LETTERS.charAt(i)));
            if (text == null) {
                break;
            }
            opts.add(text);
        }
        if (opts.size() < 2 || opts.size() != lettered.size()) {
            throw new MedqaException(ExitCodes.USAGE, source + ": give 2 to 5 options lettered A, B, C, ... without gaps, "
                    + "got " + lettered.keySet());
        }
        return new McqSample(source, question, opts, -1, null, null, source);
    }

    private static List<McqSample> readInput(Path file) {
        List<McqSample> out = new ArrayList<>();
        try (JsonlLines lines = JsonlLines.open(file)) {
            for (JsonlLines.Line line = lines.next(); line != null; line = lines.next()) {
                if (line.text().isBlank()) {
                    continue;
                }
                String where = file + ":" + line.number();
                JsonNode row;
                try {
                    row = JSON.readTree(line.text());
                } catch (IOException e) {
                    throw new MedqaException(ExitCodes.DATA, where + ": malformed JSON: "
                            + MedqaException.firstLine(e instanceof JsonProcessingException j ? j.getOriginalMessage()
                                    : e.getMessage()));
                }
                if (row == null || !row.isObject()) {
                    throw new MedqaException(ExitCodes.DATA, where + ": not a JSON object");
                }
                Map<String, String> lettered = new TreeMap<>();
                if (row.path("options").isObject()) {
                    row.get("options").fields().forEachRemaining(f -> lettered.put(f.getKey(), f.getValue().asText()));
                } else {
                    String[] keys = {"opa", "opb", "opc", "opd", "ope"};
                    for (int i = 0; i < keys.length; i++) {
                        if (row.hasNonNull(keys[i])) {
                            lettered.put(String.valueOf(McqSample.LETTERS.charAt(i)), row.get(keys[i]).asText());
                        }
                    }
                }
                try {
                    out.add(sample(row.path("question").asText(""), lettered, where));
                } catch (MedqaException e) {
                    throw new MedqaException(ExitCodes.DATA, e.getMessage());
                }
            }
        }
        return out;
    }

    private void interactive(LoadedModel loaded, Generator generator) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // Prompts go to stderr, so stdout holds only answers (`ask --json < questions.txt` is pure JSON).
        PrintWriter prompts = err();
        int n = 0;
        while (true) {
            McqSample s;
            try {
                s = readQuestion(in, prompts, "question " + (++n));
            } catch (MedqaException e) {
                err().println("medqa: error: " + e.getMessage());
                continue;
            }
            if (s == null) {
                return;
            }
            answer(loaded, generator, s);
        }
    }

    /** {@code A. text}, {@code A) text} or {@code A: text}: an option that carries its letter. */
    private static final Pattern LETTERED = Pattern.compile("^\\s*([A-Ea-e])[.):]\\s+(.*)$");

    /**
     * One typed question: a line with the question, then one line per option, as {@code A. text},
     * {@code A) text} or the plain text (lettered in order), ended by an empty line or the fifth option.
     * Returns null when the question line is empty or the input ends.
     */
    static McqSample readQuestion(BufferedReader in, PrintWriter prompts, String where) throws IOException {
        prompts.print("Question (empty line to quit): ");
        prompts.flush();
        String q = in.readLine();
        if (q == null || q.isBlank()) {
            return null;
        }
        Map<String, String> lettered = new TreeMap<>();
        String mismatch = null;
        for (int i = 0; i < McqSample.LETTERS.length(); i++) {
            String letter = String.valueOf(McqSample.LETTERS.charAt(i));
            prompts.print("Option " + letter + (i >= 2 ? " (empty line when done): " : ": "));
            prompts.flush();
            String o = in.readLine();
            if (o == null || o.isBlank()) {
                break;
            }
            Matcher m = LETTERED.matcher(o);
            if (m.matches()) {
                if (!m.group(1).equalsIgnoreCase(letter) && mismatch == null) {
                    mismatch = where + ": option " + (i + 1) + " is lettered " + m.group(1).toUpperCase(java.util.Locale.ROOT)
                            + ", expected " + letter + " (options go in order A, B, C, ...)";
                }
                o = m.group(2);
            }
            lettered.put(letter, o.strip());
        }
        if (mismatch != null) {
            throw new MedqaException(ExitCodes.USAGE, mismatch);
        }
        return sample(q.strip(), lettered, where);
    }
}
