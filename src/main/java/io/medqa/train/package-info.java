/** The LoRA training loop: optimizer, learning-rate schedule, fp16 loss scaling, checkpoints, metrics. */
package io.medqa.train;
