package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.medqa.ExitCodes;
import io.medqa.MedqaException;
import io.medqa.io.Json;
import io.medqa.io.SafetensorsFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weight files of a Hugging Face model folder: {@code model.safetensors}, or the shards listed in
 * {@code model.safetensors.index.json}'s weight_map. Tensors are looked up by their Hugging Face name
 * and checked against the shape the config implies before they are loaded.
 */
public final class Checkpoint implements AutoCloseable {

    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Map<String, SafetensorsFile> shardByTensor = new LinkedHashMap<>();
    private final List<SafetensorsFile> shards = new ArrayList<>();

    private Checkpoint(Path dir) {
        this.dir = dir;
    }

    /** The weight files of {@code dir}, for hashing and reporting; the index first when sharded. */
    public static List<Path> weightFiles(Path dir) {
        ModelFolder.require(dir);
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            List<Path> files = new ArrayList<>();
            files.add(index);
            readWeightMap(index).values().stream().distinct().sorted()
                    .forEach(f -> files.add(ModelFolder.shard(dir, index, f)));
            return files;
        }
        return List.of(dir.resolve(SINGLE));
    }

    public static Checkpoint open(Path dir) {
        ModelFolder.require(dir);
        Checkpoint checkpoint = new Checkpoint(dir);
        try {
            Path index = dir.resolve(INDEX);
            if (Files.isRegularFile(index)) {
                Map<String, SafetensorsFile> byFile = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : readWeightMap(index).entrySet()) {
                    SafetensorsFile shard = byFile.get(e.getValue());
                    if (shard == null) {
                        Path file = ModelFolder.shard(dir, index, e.getValue());
                        if (!Files.isRegularFile(file)) {
                            throw new MedqaException(ExitCodes.NO_INPUT, file + ": file not found (listed in "
                                    + index.getFileName() + " for tensor " + e.getKey() + ")");
                        }
                        shard = SafetensorsFile.open(file);
                        byFile.put(e.getValue(), shard);
                        checkpoint.shards.add(shard);
                    }
                    if (!shard.tensors().containsKey(e.getKey())) {
                        throw new MedqaException(ExitCodes.DATA, shard.path() + ": tensor " + e.getKey()
                                + " is missing (" + index.getFileName() + " places it in this file)");
                    }
                    checkpoint.shardByTensor.put(e.getKey(), shard);
                }
            } else {
                Path single = dir.resolve(SINGLE);
                if (!Files.isRegularFile(single)) {
                    throw new MedqaException(ExitCodes.NO_INPUT, dir + ": no " + SINGLE + " and no " + INDEX);
                }
                SafetensorsFile file = SafetensorsFile.open(single);
                checkpoint.shards.add(file);
                file.tensors().keySet().forEach(name -> checkpoint.shardByTensor.put(name, file));
            }
            return checkpoint;
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (JsonProcessingException e) {
            throw new MedqaException(ExitCodes.DATA, index + ": not valid JSON: " + Json.problem(e));
        } catch (IOException e) {
            throw new MedqaException(ExitCodes.NO_INPUT, index + ": cannot read: " + e.getMessage());
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new MedqaException(ExitCodes.DATA, index + ": key weight_map is missing or not an object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new MedqaException(ExitCodes.DATA, index + ": weight_map." + e.getKey() + " is not a file name");
            }
            out.put(e.getKey(), e.getValue().asText());
        }
        return out;
    }

    public boolean has(String name) {
        return shardByTensor.containsKey(name);
    }

    /** Where a tensor lives, for messages. */
    public Path fileOf(String name) {
        SafetensorsFile file = shardByTensor.get(name);
        return file != null ? file.path() : dir.resolve(shards.size() == 1 ? SINGLE : INDEX);
    }

    /** Loads a tensor after checking it exists with exactly the expected shape. */
    public NDArray load(NDManager manager, String name, DataType dtype, long... expectedShape) {
        SafetensorsFile file = shardByTensor.get(name);
        if (file == null) {
            throw new MedqaException(ExitCodes.DATA, fileOf(name) + ": tensor " + name + " is missing");
        }
        SafetensorsFile.TensorInfo info = file.info(name);
        if (!Arrays.equals(info.shape(), expectedShape)) {
            throw new MedqaException(ExitCodes.DATA, file.path() + ": tensor " + name + " has shape "
                    + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(expectedShape)
                    + " from config.json");
        }
        return file.load(manager, name, dtype);
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
