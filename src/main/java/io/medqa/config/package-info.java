/** The training configuration: immutable records, read from YAML over built-in defaults, with overrides. */
package io.medqa.config;
