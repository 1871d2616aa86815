/** Qwen3: its Hugging Face config, checkpoint loading, the forward pass on DJL and text generation. */
package io.medqa.model;
