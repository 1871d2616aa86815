package io.medqa.config;

/** A config value that is invalid; {@link ConfigLoader} adds the file name. */
public final class ConfigException extends RuntimeException {

    private final String key;

    public ConfigException(String key, String problem) {
        super("key " + key + " " + problem);
        this.key = key;
    }

    public String key() {
        return key;
    }
}
