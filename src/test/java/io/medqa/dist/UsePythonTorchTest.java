package io.medqa.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/use-python-torch against a PyTorch wheel's layout (site-packages/torch/lib and one nvidia/NAME/lib per CUDA wheel)
 * made in a temporary folder, with a stand-in interpreter that answers the script's one question.
 */
class UsePythonTorchTest {

    @TempDir
    Path tmp;

    private record Result(int code, String out, String err) {}

    private Result run(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("bash", "scripts/use-python-torch"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).start();
        String out = new String(p.getInputStream().readAllBytes());
        String err = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out, err);
    }

    /** A site-packages with torch (CUDA 13.0 build) and the CUDA runtime wheel; returns the interpreter. */
    private Path wheel(String cuda) throws Exception {
        Path site = tmp.resolve("site-packages");
        Path lib = Files.createDirectories(site.resolve("torch/lib"));
        for (String f : List.of("libc10.so", "libc10_cuda.so", "libtorch.so", "libtorch_cpu.so", "libtorch_cuda.so",
                "libgomp.so.1", "libtorch_python.so", "libshm.so")) {
            Files.writeString(lib.resolve(f), "");
        }
        Files.createDirectories(site.resolve("nvidia/cuda_runtime/lib"));
        Files.writeString(site.resolve("nvidia/cuda_runtime/lib/libcudart.so.13"), "");
        Files.createDirectories(site.resolve("nvidia/cublas/lib"));
        Path py = tmp.resolve("python");
        Files.writeString(py, "#!/bin/sh\necho '" + site.resolve("torch") + " 2.11.0 " + cuda + "'\n");
        Files.setPosixFilePermissions(py, PosixFilePermissions.fromString("rwxr-xr-x"));
        return py;
    }

    @Test
    void makesAFolderOfItsOwnAndPrintsTheVariables() throws Exception {
        Path py = wheel("cu130");
        Path jni = Files.writeString(tmp.resolve("libdjl_torch.so"), "jni");
        Path dir = tmp.resolve("libtorch");
        Result r = run("--jni", jni.toString(), "--python", py.toString(), "--dir", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("PYTORCH_LIBRARY_PATH='" + dir + "'"), r.out());
        assertTrue(r.out().contains("PYTORCH_FLAVOR='cu130' PYTORCH_VERSION='2.11.0'"), r.out());
        assertTrue(r.out().contains("nvidia/cuda_runtime/lib") && r.out().contains("nvidia/cublas/lib"), r.out());
        assertTrue(r.out().contains("-Djna.library.path=" + dir.resolve("jna")), r.out());
        for (String f : List.of("libc10.so", "libc10_cuda.so", "libtorch.so", "libtorch_cpu.so", "libtorch_cuda.so",
                "libgomp.so.1")) {
            assertTrue(Files.isSymbolicLink(dir.resolve(f)), f);
        }
        // the Python bindings and the rest of torch/lib stay out: DJL loads whatever the folder holds
        assertFalse(Files.exists(dir.resolve("libtorch_python.so")));
        assertFalse(Files.exists(dir.resolve("libshm.so")));
        assertEquals("jni", Files.readString(dir.resolve("libdjl_torch.so")));
        assertTrue(Files.isSymbolicLink(dir.resolve("jna/libcudart.so")));

        // run again: the folder is remade, not added to
        Result again = run("--jni", jni.toString(), "--python", py.toString(), "--dir", dir.toString());
        assertEquals(0, again.code(), again.err());
        assertEquals(r.out(), again.out());
    }

    @Test
    void aCpuBuildGetsTheCpuFlavor() throws Exception {
        Path py = wheel("cpu");
        Path jni = Files.writeString(tmp.resolve("libdjl_torch.so"), "jni");
        Result r = run("--jni", jni.toString(), "--python", py.toString(), "--dir", tmp.resolve("d").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("PYTORCH_FLAVOR='cpu'"), r.out());
    }

    @Test
    void refusesWhatItCannotUse() throws Exception {
        Result none = run();
        assertEquals(64, none.code());
        assertTrue(none.err().contains("--jni FILE is required"), none.err());
        Result missing = run("--jni", tmp.resolve("nope.so").toString());
        assertEquals(66, missing.code());
        assertTrue(missing.err().contains("nope.so: file not found"), missing.err());
        Path jni = Files.writeString(tmp.resolve("libdjl_torch.so"), "jni");
        Result noTorch = run("--jni", jni.toString(), "--python", "/bin/false");
        assertEquals(69, noTorch.code());
        assertTrue(noTorch.err().contains("cannot import torch"), noTorch.err());
        assertEquals("", noTorch.out(), "nothing to eval on failure");
    }
}
