package io.medqa.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The short and the one-line forms of libtorch's TorchScript compile errors. */
class ScriptModulesTest {

    /** Shaped as libtorch 1.13 words a missing op: the reason, suggestions, then the quoted source. */
    private static final String MISSING_OP = "\nUnknown builtin op: aten::_fused_adamw_.\n"
            + "Here are some suggestions: \n\taten::_fused_adam_\n\taten::_fused_adam\n\n"
            + "The original call is:\n  File \"code/__torch__.py\", line 30\n"
            + "    torch._fused_adamw_(params, grads)\n    ~~~~~~~~~~~~~~~~~~~ <--- HERE\n";

    @Test
    void reasonKeepsOnlyWhatIsWrong() {
        assertEquals("Unknown builtin op: aten::_fused_adamw_.", ScriptModules.reason(MISSING_OP));
        String shorter = "\nExpected a value of type 'Tensor' for argument 'x' but instead found type 'int'.\n"
                + "The original call is:\n  File \"code/__torch__.py\", line 3\n";
        assertEquals("Expected a value of type 'Tensor' for argument 'x' but instead found type 'int'.",
                ScriptModules.reason(shorter));
        assertEquals("no tail here", ScriptModules.reason("  no tail\nhere "));
        assertEquals("", ScriptModules.reason(null));
    }

    @Test
    void oneLineKeepsEverythingOnOneBoundedLine() {
        String one = ScriptModules.oneLine(MISSING_OP);
        assertTrue(one.startsWith("Unknown builtin op: aten::_fused_adamw_. Here are some suggestions: aten::_fused_adam_"),
                one);
        assertTrue(!one.contains("\n") && !one.contains("\t"), one);
        String longMessage = "x ".repeat(1000);
        assertEquals(403, ScriptModules.oneLine(longMessage).length());
    }
}
