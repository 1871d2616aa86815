/** Multiple-choice datasets: streaming JSONL readers, the prompt format, shuffling and batching. */
package io.medqa.data;
