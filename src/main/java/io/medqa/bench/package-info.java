/** {@code medqa bench}: training-step and scoring throughput on synthetic tokens, for comparison with PEFT. */
package io.medqa.bench;
