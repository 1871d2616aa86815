package io.medqa.cli;

import io.medqa.ExitCodes;
import picocli.AutoComplete;
import picocli.CommandLine.Command;

/** {@code medqa completion}: picocli's generated bash/zsh completion script. */
@Command(name = "completion",
        description = "Print a bash (and zsh, through bashcompinit) completion script for medqa.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  source <(medqa completion)                        # this shell",
            "  medqa completion > ~/.local/share/bash-completion/completions/medqa"
        })
final class CompletionCommand extends BaseCommand {

    @Override
    int run() {
        out().print(AutoComplete.bash("medqa", spec.root().commandLine()));
        out().flush();
        return ExitCodes.OK;
    }
}
