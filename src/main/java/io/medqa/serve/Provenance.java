package io.medqa.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which base model and adapter answer, for GET /v1/models and the page: paths, and from the adapter's
 * run.json (written by medqa train) the base weights' sha256, the data files' sha256, the dates and status.
 */
public final class Provenance {

    private Provenance() {}

    public static ObjectNode of(Path model, Path adapter) {
        ObjectMapper json = new ObjectMapper();
        ObjectNode p = json.createObjectNode();
        p.put("base_model", model.toAbsolutePath().normalize().toString());
        if (adapter == null) {
            p.putNull("adapter");
            return p;
        }
        ObjectNode a = p.putObject("adapter");
        a.put("path", adapter.toAbsolutePath().normalize().toString());
        Path runJson = adapter.resolve("run.json");
        if (!Files.isRegularFile(runJson)) {
            a.putNull("run");
            return p;
        }
        JsonNode run;
        try {
            run = json.readTree(runJson.toFile());
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.DATA, runJson + ": malformed JSON: " + MedqaException.firstLine(e.getMessage()));
        }
        ObjectNode r = a.putObject("run");
        for (String key : new String[] {"medqa_version", "started", "finished", "status", "device", "dtype"}) {
            if (run.hasNonNull(key)) {
                r.set(key, run.get(key));
            }
        }
        JsonNode base = run.path("base_model");
        if (base.isObject()) {
            r.set("base_model_path", base.path("path"));
            r.set("base_model_sha256", base.path("sha256"));
        }
        if (run.path("data_sha256").isObject()) {
            r.set("data_sha256", run.get("data_sha256"));
        }
        return p;
    }
}
