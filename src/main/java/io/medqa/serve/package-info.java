/** {@code medqa serve}: the HTTP API, the web page and the single worker that owns the model. */
package io.medqa.serve;
