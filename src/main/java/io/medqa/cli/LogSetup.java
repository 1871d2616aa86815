package io.medqa.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.core.FileAppender;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;

/** Console verbosity from -v, and a per-run log file for commands that write one. */
final class LogSetup {

    private LogSetup() {}

    /** 0: warnings; 1 (-v): info; 2 (-vv): debug, DJL included. */
    static void verbosity(int level) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Level console = level <= 0 ? Level.WARN : level == 1 ? Level.INFO : Level.DEBUG;
        context.getLogger(Logger.ROOT_LOGGER_NAME).setLevel(console);
        context.getLogger("ai.djl").setLevel(level >= 2 ? Level.DEBUG : Level.WARN);
        context.getLogger("ai.djl.util.cuda.CudaUtils").setLevel(level >= 2 ? Level.DEBUG : Level.ERROR);
    }

    /** The logger of train.log's per-step lines: they go to the file only, never to the console. */
    static final String STEPS = "medqa.steps";

    /**
     * Sends every INFO-and-above line to {@code file} as well, whatever the console shows, and the
     * per-step lines of {@link #STEPS} to it alone. A previous run's file (in the same process) is closed.
     */
    static void fileLog(Path file) {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger steps = context.getLogger(STEPS);
        for (Logger l : new Logger[] {context.getLogger(Logger.ROOT_LOGGER_NAME), steps}) {
            ch.qos.logback.core.Appender<ch.qos.logback.classic.spi.ILoggingEvent> old = l.getAppender("FILE");
            if (old != null) {
                l.detachAppender(old);
                old.stop();
            }
        }
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern("%d{ISO8601} %-5level %logger{0} - %msg%n");
        encoder.start();
        FileAppender<ch.qos.logback.classic.spi.ILoggingEvent> appender = new FileAppender<>();
        appender.setContext(context);
        appender.setName("FILE");
        appender.setFile(file.toString());
        appender.setEncoder(encoder);
        appender.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.addAppender(appender);
        steps.setAdditive(false);
        steps.setLevel(Level.INFO);
        steps.addAppender(appender);
        if (!root.isInfoEnabled()) {
            // The file wants INFO; the console appender keeps its own threshold through a filter.
            ch.qos.logback.classic.filter.ThresholdFilter warnOnly = new ch.qos.logback.classic.filter.ThresholdFilter();
            warnOnly.setLevel("WARN");
            warnOnly.start();
            root.getAppender("CONSOLE").addFilter(warnOnly);
            root.setLevel(Level.INFO);
        }
    }

    /** Stops writing the per-run log file (before a failed run's files are removed). */
    static void closeFileLog() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        var appender = root.getAppender("FILE");
        if (appender != null) {
            root.detachAppender(appender);
            appender.stop();
        }
    }
}
