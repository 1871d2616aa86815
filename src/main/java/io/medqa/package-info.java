/** medqa: LoRA fine-tuning and evaluation of Qwen3 models for medical multiple-choice questions. */
package io.medqa;
