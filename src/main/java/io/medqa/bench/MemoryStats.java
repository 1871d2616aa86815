package io.medqa.bench;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Memory figures a benchmark reports. On the CPU, the process's resident set from /proc/self/status:
 * VmRSS now and VmHWM, its peak (the JVM heap included; tensors live outside it). On a CUDA GPU, the
 * device memory in use as cudaMemGetInfo reports it through DJL (total - free: PyTorch's cached
 * blocks, the CUDA context and any other process on the device), which the caller samples after
 * each step; DJL exposes no torch.cuda.max_memory_allocated.
 */
public final class MemoryStats {

    private static final Path STATUS = Path.of("/proc/self/status");

    private MemoryStats() {}

    /** Resident set now, in bytes; -1 where /proc is absent. */
    public static long rssBytes() {
        return statusKb("VmRSS:");
    }

    /** Peak resident set of the process so far, in bytes; -1 where /proc is absent. */
    public static long peakRssBytes() {
        return statusKb("VmHWM:");
    }

    /** Device memory in use, in bytes; -1 on the CPU or when CUDA's runtime cannot be asked (ROCm). */
    public static long gpuUsedBytes(Device device) {
        if (!device.isGpu()) {
            return -1;
        }
        try {
            return CudaUtils.hasCuda() ? CudaUtils.getGpuMemory(device).getUsed() : -1;
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    private static long statusKb(String key) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).replace("kB", "").trim()) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
