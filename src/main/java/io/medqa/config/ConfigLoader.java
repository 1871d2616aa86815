package io.medqa.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reads a YAML config over the built-in defaults (resource medqa-defaults.yaml), applies
 * {@code key=value} overrides, and binds the result to {@link TrainConfig}. Unknown keys and values of
 * the wrong type are rejected with the key's dotted path.
 */
public final class ConfigLoader {

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);

    private ConfigLoader() {}

    /** The config of {@code file} (null: defaults only) with {@code overrides} ("train.lr=1e-4") applied. */
    public static TrainConfig load(Path file, List<String> overrides) {
        return bind(resolveTree(file, overrides), file == null ? null : file.toString(), overrides);
    }

    /** The merged tree, before binding; saved with a run so it can be re-read exactly. */
    public static ObjectNode resolveTree(Path file, List<String> overrides) {
        ObjectNode tree = defaults();
        if (file != null) {
            JsonNode user;
            try {
                String text = Files.readString(file);
                // A byte-order mark is tolerated, as Python's utf-8-sig readers do.
                user = YAML.readTree(text.startsWith("\uFEFF") ? text.substring(1) : text);
            } catch (NoSuchFileException e) {
                throw new MedqaException(ExitCodes.NO_INPUT, file + ": file not found");
            } catch (CharacterCodingException e) {
                throw new MedqaException(ExitCodes.DATA, file + ": not valid UTF-8");
            } catch (JsonProcessingException e) {
                throw new MedqaException(ExitCodes.DATA, file + ": not valid YAML: " + Json.problem(e));
            } catch (IOException e) {
                throw new MedqaException(ExitCodes.NO_INPUT, file + ": cannot read: " + e.getMessage());
            }
            if (user != null && !user.isNull() && !user.isMissingNode()) {
                if (!user.isObject()) {
                    throw new MedqaException(ExitCodes.DATA, file + ": the top level must be a mapping of keys");
                }
                merge(tree, (ObjectNode) user, "", file.toString());
            }
        }
        for (String override : overrides) {
            applyOverride(tree, override);
        }
        return tree;
    }

    /**
     * A saved resolved tree (a run's run.json "config") over today's defaults, so keys added since it was
     * written take their defaults, then {@code overrides}.
     */
    public static ObjectNode resolveTree(ObjectNode saved, String source, List<String> overrides) {
        ObjectNode tree = defaults();
        merge(tree, saved, "", source);
        for (String override : overrides) {
            applyOverride(tree, override);
        }
        return tree;
    }

    /**
     * Binds a resolved tree. A bad value is blamed on where it came from: the {@code --set} that gave
     * it (a usage error, exit code 2, as an unknown {@code --set} key is) or the file {@code source}
     * (bad data, 65).
     *
     * @param source the config file's name, or null when there is none (defaults and --set only)
     */
    public static TrainConfig bind(JsonNode tree, String source, List<String> overrides) {
        String key;
        String problem;
        try {
            return YAML.treeToValue(tree, TrainConfig.class);
        } catch (InvalidFormatException e) {
            key = path(e);
            problem = "expected " + describe(e.getTargetType()) + ", got \"" + e.getValue() + "\"";
        } catch (MismatchedInputException e) {
            key = path(e);
            problem = "expected " + describe(e.getTargetType()) + " (" + MedqaException.firstLine(e.getOriginalMessage()) + ")";
        } catch (JsonMappingException e) {
            if (e.getCause() instanceof ConfigException c) {
                key = c.key();
                problem = c.problem();
            } else if (e.getCause() instanceof InputCoercionException c) {
                key = path(e);
                problem = outOfRange(c);
            } else {
                key = path(e);
                problem = MedqaException.firstLine(e.getOriginalMessage());
            }
        } catch (InputCoercionException e) {
            key = parserPath(e);
            problem = outOfRange(e);
        } catch (IOException e) {
            key = null;
            problem = MedqaException.firstLine(e.getMessage());
        }
        String set = key == null ? null : setBy(key, overrides);
        if (set != null) {
            throw new MedqaException(ExitCodes.USAGE, "--set " + set + ": " + (set.equals(key) ? "" : "key " + key + " ")
                    + problem);
        }
        String where = source != null ? source + ": " : "";
        throw new MedqaException(ExitCodes.DATA, where + (key == null ? "" : "key " + key
                + (problem.startsWith("expected") ? ": " : " ")) + problem
                + (source == null && key != null ? " (no config file; give --config or --set " + key + "=...)" : ""));
    }

    /** Binds a tree that no --set contributed to. */
    public static TrainConfig bind(JsonNode tree, String source) {
        return bind(tree, source, List.of());
    }

    /** The --set key that set {@code key} (or a list or section holding it), or null. */
    private static String setBy(String key, List<String> overrides) {
        String found = null;
        for (String o : overrides) {
            int eq = o.indexOf('=');
            String k = eq < 0 ? o.trim() : o.substring(0, eq).trim();
            if (key.equals(k) || key.startsWith(k + ".") || key.startsWith(k + "[")) {
                found = k; // the last --set of a key wins, as its value does
            }
        }
        return found;
    }

    private static String outOfRange(InputCoercionException e) {
        Class<?> type = e.getTargetType();
        String range = type == int.class || type == Integer.class
                ? "an integer from " + Integer.MIN_VALUE + " to " + Integer.MAX_VALUE
                : "an integer from " + Long.MIN_VALUE + " to " + Long.MAX_VALUE;
        return "expected " + range + ", got " + numberText(e);
    }

    private static String numberText(InputCoercionException e) {
        try {
            return e.getProcessor().getText();
        } catch (IOException | RuntimeException ignored) {
            return "a value out of range";
        }
    }

    /** The dotted path of the parser's current value, from its parsing context. */
    private static String parserPath(InputCoercionException e) {
        JsonParser p = e.getProcessor();
        if (p == null) {
            return null;
        }
        List<String> parts = new java.util.ArrayList<>();
        for (JsonStreamContext c = p.getParsingContext(); c != null && !c.inRoot(); c = c.getParent()) {
            parts.add(0, c.inArray() ? "[" + c.getCurrentIndex() + "]" : c.getCurrentName());
        }
        return String.join(".", parts).replace(".[", "[");
    }

    /** The resolved config as YAML, in snake_case, for logs and for the run folder. */
    public static String toYaml(TrainConfig config) {
        try {
            return YAML.writeValueAsString(config);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode defaults() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/medqa-defaults.yaml")) {
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("medqa-defaults.yaml is missing from the build", e);
        }
    }

    /** Copies {@code user} over {@code base}; every key must exist in the defaults. */
    private static void merge(ObjectNode base, ObjectNode user, String prefix, String source) {
        for (Iterator<Map.Entry<String, JsonNode>> it = user.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix + e.getKey();
            JsonNode known = base.get(e.getKey());
            if (known == null) {
                throw new MedqaException(ExitCodes.DATA, source + ": unknown key " + key + " (known here: "
                        + fieldNames(base) + ")");
            }
            if (known.isObject()) {
                if (!e.getValue().isObject()) {
                    throw new MedqaException(ExitCodes.DATA, source + ": key " + key
                            + " must be a mapping with keys " + fieldNames((ObjectNode) known));
                }
                merge((ObjectNode) known, (ObjectNode) e.getValue(), key + ".", source);
            } else {
                if (e.getValue().isObject()) {
                    throw new MedqaException(ExitCodes.DATA, source + ": key " + key + " must be a value, not a mapping");
                }
                base.set(e.getKey(), e.getValue());
            }
        }
    }

    private static void applyOverride(ObjectNode tree, String override) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new MedqaException(ExitCodes.USAGE, "--set " + override + ": expected KEY=VALUE, e.g. train.lr=1e-4");
        }
        String key = override.substring(0, eq).trim();
        String text = override.substring(eq + 1);
        JsonNode value;
        try {
            value = text.isEmpty() ? NullNode.getInstance() : YAML.readTree(text);
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.USAGE, "--set " + key + ": not a YAML value: " + text);
        }
        if (value == null || value.isMissingNode()) {
            value = NullNode.getInstance();
        }
        String[] parts = key.split("\\.");
        ObjectNode node = tree;
        for (int i = 0; i < parts.length; i++) {
            JsonNode child = node.get(parts[i]);
            String soFar = String.join(".", java.util.Arrays.copyOf(parts, i + 1));
            if (child == null) {
                throw new MedqaException(ExitCodes.USAGE, "--set " + key + ": unknown key " + soFar
                        + " (known here: " + fieldNames(node) + ")");
            }
            if (i == parts.length - 1) {
                if (child.isObject()) {
                    throw new MedqaException(ExitCodes.USAGE, "--set " + key + ": is a section; set one of its keys: "
                            + fieldNames((ObjectNode) child));
                }
                node.set(parts[i], value);
            } else {
                if (!child.isObject()) {
                    throw new MedqaException(ExitCodes.USAGE, "--set " + key + ": " + soFar + " is a value, not a section");
                }
                node = (ObjectNode) child;
            }
        }
    }

    private static String fieldNames(ObjectNode node) {
        return String.join(", ", (Iterable<String>) node::fieldNames);
    }

    private static String path(JsonMappingException e) {
        return e.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[");
    }

    private static String describe(Class<?> type) {
        if (type == null) {
            return "another type";
        }
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) {
            return "an integer";
        }
        if (type == double.class || type == Double.class) {
            return "a number";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "true or false";
        }
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        return type == String.class ? "a string" : "a " + type.getSimpleName();
    }

}
