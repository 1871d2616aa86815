package io.medqa.cli;

import io.medqa.ExitCodes;
import io.medqa.io.HubDownloader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** {@code medqa download}: model and dataset files from the Hugging Face Hub. */
@Command(name = "download",
        description = "Download a model or dataset repository (or some of its files) from the Hugging Face Hub. "
                + "Honours HF_ENDPOINT (a mirror) and HF_TOKEN (gated or private repositories); resumes interrupted "
                + "files; checks each file's size and ETag; writes each file under a temporary name.",
        mixinStandardHelpOptions = true,
        footerHeading = "%nExamples:%n",
        footer = {
            "  medqa download Qwen/Qwen3-1.7B --dir models/Qwen3-1.7B",
            "  medqa download openlifescienceai/medmcqa --dataset --include \"data/*.parquet\" --dir data/medmcqa",
            "  HF_ENDPOINT=https://hf-mirror.example medqa download Qwen/Qwen3-0.6B \\",
            "      --include \"*.json\" --include \"*.safetensors\""
        })
final class DownloadCommand extends BaseCommand {

    @Parameters(paramLabel = "REPO", description = "Repository id, e.g. Qwen/Qwen3-1.7B (datasets/ID also means --dataset).")
    String repo;

    @Option(names = "--revision", paramLabel = "R", defaultValue = "main", description = "Branch, tag or commit "
            + "(default: ${DEFAULT-VALUE}).")
    String revision;

    @Option(names = "--include", paramLabel = "GLOB", description = "Only files matching the glob; repeatable.")
    List<String> includes = new ArrayList<>();

    @Option(names = "--dir", paramLabel = "DIR", description = "Destination folder (default: the repository name).")
    Path dir;

    @Option(names = "--dataset", description = "REPO is a dataset repository.")
    boolean dataset;

    @Override
    int run() {
        String id = repo;
        boolean isDataset = dataset;
        if (id.startsWith("datasets/")) {
            id = id.substring("datasets/".length());
            isDataset = true;
        }
        Path target = dir != null ? dir : Path.of(id.substring(id.lastIndexOf('/') + 1));
        HubDownloader hub = HubDownloader.fromEnvironment();
        List<HubDownloader.RemoteFile> files = hub.list(id, isDataset, revision, includes);
        long total = files.stream().mapToLong(f -> Math.max(0, f.size())).sum();
        err().printf(Locale.ROOT, "%s@%s: %d files, %.1f MB -> %s%n", id, revision, files.size(), total / 1e6, target);
        ProgressBar bar = new ProgressBar(err(), "MB");
        bar.start(0, Math.max(1, total / 1_000_000));
        hub.download(id, isDataset, revision, files, target,
                (done, all, file) -> bar.update(done / 1_000_000, file));
        bar.finish();
        out().printf(Locale.ROOT, "downloaded %d files to %s%n", files.size(), target);
        return ExitCodes.OK;
    }
}
