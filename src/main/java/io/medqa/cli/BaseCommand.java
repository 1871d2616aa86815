package io.medqa.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** A subcommand: sets the log level from -v, then runs; output goes through picocli's writers. */
abstract class BaseCommand implements Callable<Integer> {

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public final Integer call() throws Exception {
        LogSetup.verbosity(common.verbosity());
        return run();
    }

    abstract int run() throws Exception;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    int verbosity() {
        return common == null ? 0 : common.verbosity();
    }
}
