package io.medqa.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The op count of a profiled step, read back from the Chrome trace libtorch's autograd profiler writes
 * (one complete event, "ph": "X", per op call, with its duration in microseconds). Nested calls (an op
 * that calls others) are each counted: the count is of dispatcher calls, which on a GPU is where
 * launches and their host overhead come from.
 */
public record ProfileSummary(Path file, long ops, long atenOps, Map<String, long[]> byName) {

    /** Reads {@code trace}; {@code byName} maps an op to {calls, total microseconds}, most called first. */
    public static ProfileSummary of(Path trace) {
        JsonNode events;
        try {
            events = new ObjectMapper().readTree(trace.toFile());
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.IO, trace + ": cannot read the profiler's trace: " + e.getMessage());
        }
        if (events != null && events.has("traceEvents")) {
            events = events.get("traceEvents");
        }
        if (events == null || !events.isArray()) {
            throw new MedqaException(ExitCodes.IO, trace + ": the profiler's trace is not a list of events");
        }
        Map<String, long[]> counts = new LinkedHashMap<>();
        long ops = 0;
        long aten = 0;
        for (JsonNode e : events) {
            if (!"X".equals(e.path("ph").asText())) {
                continue;
            }
            long[] c = counts.computeIfAbsent(e.path("name").asText("?"), k -> new long[2]);
            c[0]++;
            c[1] += e.path("dur").asLong(0);
            ops++;
            if (e.path("name").asText().startsWith("aten::")) {
                aten++;
            }
        }
        List<Map.Entry<String, long[]>> sorted = new ArrayList<>(counts.entrySet());
        sorted.sort(Comparator.comparingLong((Map.Entry<String, long[]> en) -> -en.getValue()[0])
                .thenComparing(Map.Entry::getKey));
        Map<String, long[]> ordered = new LinkedHashMap<>();
        sorted.forEach(en -> ordered.put(en.getKey(), en.getValue()));
        return new ProfileSummary(trace, ops, aten, ordered);
    }

    /**
     * {file, ops (every event: aten ops, autograd nodes, the module's forward), aten_ops (the aten:: calls
     * alone, comparable with transformers' count), distinct, top: [{name, calls, total_us}] for the 20 most
     * called}.
     */
    public ObjectNode toJson(ObjectNode into) {
        into.put("file", file.toString()).put("ops", ops).put("aten_ops", atenOps).put("distinct", byName.size());
        var top = into.putArray("top");
        byName.entrySet().stream().limit(20).forEach(en -> top.addObject().put("name", en.getKey())
                .put("calls", en.getValue()[0]).put("total_us", en.getValue()[1]));
        return into;
    }
}
