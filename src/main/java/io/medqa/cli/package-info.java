/** The picocli commands: thin wrappers that parse options and call the model, train and eval packages. */
package io.medqa.cli;
