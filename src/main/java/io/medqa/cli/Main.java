package io.medqa.cli;

import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code medqa} command. */
@Command(name = "medqa",
        mixinStandardHelpOptions = true,
        usageHelpWidth = 110,
        versionProvider = Main.Version.class,
        description = "Fine-tune Qwen3 models with LoRA for medical multiple-choice questions, evaluate them "
                + "and ask them questions, on DJL's PyTorch engine (CPU, CUDA or ROCm).",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, AskCommand.class, MergeCommand.class,
            GenerateCommand.class, BenchCommand.class, DownloadCommand.class, CompletionCommand.class,
            CommandLine.HelpCommand.class},
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa demo                                      # everything, offline, on the CPU",
            "  medqa train --config configs/qwen3-lora.yaml",
            "  medqa generate --model ./Qwen3-1.7B --prompt \"What does ACE stand for in pharmacology?\"",
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
        System.setProperty("ai.djl.offline", "true");
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler(Main::handle);
        int code = cli.execute(args);
        out.flush();
        err.flush();
        return code;
    }

    /** One line for the user; the stack trace only with -v. */
    private static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        boolean verbose = cmd.getCommand() instanceof BaseCommand b && b.verbosity() > 0;
        PrintWriter err = cmd.getErr();
        int code;
        if (e instanceof MedqaException m) {
            // One line always: a library's text inside a message must not spill the parser's dump or a native trace.
            err.println("medqa: error: " + MedqaException.firstLine(m.getMessage()));
            code = m.exitCode();
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
