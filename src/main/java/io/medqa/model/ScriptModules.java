package io.medqa.model;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * TorchScript modules made in memory ({@link io.medqa.io.TorchScriptArchive}) and loaded without a
 * file: the way medqa reaches libtorch ops that DJL 0.35.1 does not expose (fused attention, the
 * multi-tensor optimizer ops).
 */
public final class ScriptModules {

    private ScriptModules() {}

    /**
     * Loads {@code archive} onto {@code manager}'s device; libtorch compiles its source here, so an op
     * this libtorch does not have fails now, as an {@link EngineException}. The module is freed with
     * {@code manager} or when closed.
     */
    public static PtSymbolBlock load(NDManager manager, byte[] archive) {
        try {
            return JniUtils.loadModule((PtNDManager) manager, new ByteArrayInputStream(archive), true, false);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayInputStream does not fail
        }
    }

    /**
     * What libtorch's compile error says is wrong, without its suggestions, the quoted source and the C++
     * stack that follow (e.g. "Unknown builtin op: aten::_fused_adamw_."): the short form for a message
     * a user reads; {@link #oneLine} keeps the rest.
     */
    public static String reason(String message) {
        String s = oneLine(message);
        for (String tail : new String[] {" Here are some suggestions", " The original call is", " Exception raised from"}) {
            int at = s.indexOf(tail);
            if (at > 0) {
                s = s.substring(0, at);
            }
        }
        return s.trim();
    }

    /** libtorch's message, which may start with an empty line and quote the source, on one line. */
    public static String oneLine(String message) {
        String s = message == null ? "" : message.replaceAll("\\s+", " ").trim();
        return s.length() > 400 ? s.substring(0, 400) + "..." : s;
    }
}
