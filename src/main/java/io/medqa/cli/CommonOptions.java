package io.medqa.cli;

import picocli.CommandLine.Option;

/** Options every command has. */
public final class CommonOptions {

    @Option(names = {"-v", "--verbose"}, description = "Log more to stderr (-v: info, -vv: debug) and print "
            + "stack traces on errors.")
    boolean[] verbose = new boolean[0];

    int verbosity() {
        return verbose.length;
    }
}
