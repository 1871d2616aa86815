/** File formats and file handling: safetensors, half-precision numbers, atomic writes. */
package io.medqa.io;
