/** LoRA adapters with Hugging Face PEFT's semantics and file format. */
package io.medqa.lora;
