package io.medqa.cli;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code medqa} command. */
@Command(name = "medqa",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Fine-tune Qwen3 models with LoRA for medical multiple-choice questions, evaluate them "
                + "and ask them questions, on DJL's PyTorch engine (CPU, CUDA or ROCm).",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, AskCommand.class, MergeCommand.class,
            GenerateCommand.class, BenchCommand.class, LogitsCommand.class, ServeCommand.class, ServeLoadCommand.class, DownloadCommand.class,
            CompletionCommand.class,
            CommandLine.HelpCommand.class},
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa demo                                      # everything, offline, on the CPU",
            "  medqa train --config configs/qwen3-lora.yaml",
            "  medqa generate --model ./Qwen3-1.7B --prompt \"What does ACE stand for in pharmacology?\"",
            "  medqa serve --model demo/model --adapter demo/run       # web page and API on http://127.0.0.1:8080/",
            "  medqa generate --help",
            "",
            "Exit codes: 0 ok, 1 internal error, 2 usage, 65 bad data, 66 missing input,",
            "69 device unavailable, 74 cannot write output, 130 interrupted."
        })
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    public static void main(String[] args) {
        System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given writers and returns the exit code; tests call this. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return execute(args, out, err, System.getenv("COLUMNS"));
    }

    /** As above, with the help width from {@code columns} (the COLUMNS variable) when it is a number. */
    static int execute(String[] args, PrintWriter out, PrintWriter err, String columns) {
        System.setProperty("ai.djl.offline", "true");
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler(Main::handle);
        cli.setParameterExceptionHandler(Main::handleUsage);
        Integer width = parseColumns(columns);
        if (width != null) {
            cli.setUsageHelpWidth(width);
        } else {
            cli.setUsageHelpAutoWidth(true); // the terminal's width when picocli can ask it; else 80
        }
        verbatimFooters(cli);
        int code = cli.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /** COLUMNS as picocli takes it (at least 55 columns), or null when unset or not a number. */
    static Integer parseColumns(String columns) {
        if (columns == null || !columns.strip().matches("[0-9]{1,4}")) {
            return null;
        }
        return Math.max(55, Integer.parseInt(columns.strip()));
    }

    /**
     * Footers hold the examples: picocli re-wraps them to the help width, which breaks a command in the
     * middle of a quoted string so that the copied line fails. Print them as written instead.
     */
    private static void verbatimFooters(CommandLine cli) {
        cli.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_FOOTER, help -> {
            StringBuilder text = new StringBuilder();
            for (String line : help.commandSpec().usageMessage().footer()) {
                text.append(String.format(line)).append(System.lineSeparator()); // %% and %n, as picocli reads them
            }
            return text.toString();
        });
        cli.getSubcommands().values().forEach(Main::verbatimFooters);
    }

    /** picocli's own usage errors, in medqa's style: one error line that ends pointing at --help. */
    private static int handleUsage(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        String message = e.getMessage();
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
            message += " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
        }
        err.println("medqa: error: " + MedqaException.firstLine(message) + hint(cmd));
        err.flush();
        return ExitCodes.USAGE;
    }

    static String hint(CommandLine cmd) {
        return " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')";
    }

    /** One line for the user (and a --help hint for usage errors); the stack trace only with -v. */
    private static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        boolean verbose = cmd.getCommand() instanceof BaseCommand b && b.verbosity() > 0;
        PrintWriter err = cmd.getErr();
        int code;
        if (e instanceof CommandLine.ParameterException p) {
            return handleUsage(p, new String[0]);
        }
        if (e instanceof MedqaException m) {
            // One line always: a library's text inside a message must not spill the parser's dump or a native trace.
            code = m.exitCode();
            err.println("medqa: error: " + MedqaException.firstLine(m.getMessage())
                    + (code == ExitCodes.USAGE ? hint(cmd) : ""));
        } else {
            err.println("medqa: internal error: " + MedqaException.firstLine(e.toString())
                    + (verbose ? "" : " (run with -v for the stack trace)"));
            code = ExitCodes.SOFTWARE;
        }
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    /** The version Maven filtered into medqa-version.properties. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"medqa " + io.medqa.Version.get(), "DJL 0.35.1, PyTorch engine (libtorch 2.7.1)"};
        }
    }
}
