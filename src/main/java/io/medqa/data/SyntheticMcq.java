package io.medqa.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.medqa.io.AtomicFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * A learnable multiple-choice task in MedMCQA's layout (cop 1-based), written by medqa itself: each
 * invented finding points to one organ, listed under a letter that also follows from the finding; the
 * other options are random organs. The answer is learnable from the question alone (which a tiny model
 * manages in seconds) yet differs between questions. For demos and tests; none of it is real medicine.
 */
public final class SyntheticMcq {

    static final String[] FINDINGS = {
        "a violet tongue", "glowing fingernails", "a humming chest", "silver tears",
        "cold elbows", "a striped rash", "bitter breath", "heavy eyelids",
    };
    static final String[] ORGANS = {"heart", "lung", "liver", "kidney", "brain", "skin", "spleen", "stomach"};

    private SyntheticMcq() {}

    /** The organ a finding points to: a fixed pairing, the thing to learn. */
    static int organOf(int finding) {
        return (finding * 3 + 1) % ORGANS.length;
    }

    /** Writes {@code n} questions to {@code file} (atomically), deterministic in {@code seed}. */
    public static void write(Path file, int n, long seed) {
        ObjectMapper json = new ObjectMapper();
        Random r = new Random(seed);
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int finding = r.nextInt(FINDINGS.length);
            int organ = organOf(finding);
            List<Integer> options = new ArrayList<>();
            while (options.size() < 3) {
                int o = r.nextInt(ORGANS.length);
                if (o != organ && !options.contains(o)) {
                    options.add(o);
                }
            }
            Collections.shuffle(options, r);
            options.add(finding % 4, organ);
            ObjectNode row = json.createObjectNode();
            row.put("id", "synthetic-" + seed + "-" + i);
            row.put("question", "A patient has " + FINDINGS[finding] + ". Which organ is involved?");
            String[] keys = {"opa", "opb", "opc", "opd"};
            for (int k = 0; k < 4; k++) {
                row.put(keys[k], ORGANS[options.get(k)]);
            }
            row.put("cop", options.indexOf(organ) + 1);
            row.put("choice_type", "single");
            row.put("exp", FINDINGS[finding].substring(0, 1).toUpperCase() + FINDINGS[finding].substring(1)
                    + " points to the " + ORGANS[organ] + ".");
            row.put("subject_name", "Synthetic " + (finding % 2 == 0 ? "A" : "B"));
            row.put("topic_name", "synthetic");
            out.append(row).append('\n');
        }
        AtomicFiles.writeString(file, out.toString());
    }
}
