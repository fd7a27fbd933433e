"""Self-contained measurement worker: stdlib + numpy + the artifact's runtime only.

This one file runs an artifact wherever a Python can: as a subprocess on the host (so a
runtime crash or its memory never touches the CLI, and peak RSS is this process's
alone), under QEMU with an aarch64 Python, or copied to a device over SSH. It must stay
importable on Python 3.8+ with nothing but numpy and the runtime installed.

Usage: python measure_worker.py REQUEST.json   (writes the JSON result to request["result"])

Measurement protocol: load/init is timed on its own, then the first inference (host
arrays in and out), then ``warmup`` uncounted runs, then steady-state runs until both
``min_iters`` and ``min_seconds`` are reached (capped by ``max_seconds``). Every
steady-state sample is kept.

What is timed, as TFLite's ``benchmark_model`` and ``onnxruntime_perf_test`` time it: the
runtime's inference call alone (``Runner.invoke``), on inputs prepared once in the
runtime's own form (quantized ints for an integer TFLite input, torch tensors for
ExecuTorch and torch). Turning host float arrays into that form and the outputs back
(``Runner.prepare`` + ``Runner.finish``) is timed apart as ``io_samples_ms``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import sys
import time
import traceback

PEAK_RSS_METHOD = "VmHWM of an isolated worker process (includes the interpreter, numpy and the runtime)"


# Modules each format's runtime needs: imported before the init timer starts, so init_ms
# is loading the model, not importing a framework (reported apart as import_ms).
RUNTIME_IMPORTS = {
    "onnx": ["onnxruntime"],
    "tflite": ["ai_edge_litert.interpreter|tflite_runtime.interpreter"],  # first that imports
    "executorch": ["torch", "executorch.runtime"],
    "ptl": ["torch", "torch.jit.mobile"],
    "pt2": ["torch"],
    "torchscript": ["torch"],
}


def import_runtime(fmt):
    """Import the runtime's modules; returns the time it took in ms."""
    import importlib

    t0 = time.perf_counter_ns()
    for choices in RUNTIME_IMPORTS.get(fmt, []):
        for index, name in enumerate(choices.split("|")):
            try:
                importlib.import_module(name)
                break
            except ImportError:
                if index == choices.count("|"):
                    raise
    return _ms_since(t0)


def load_runner(fmt, path, threads, device="cpu"):
    """Return ``(run, runtime_name, runtime_version)``; ``run(list_of_arrays) -> list_of_arrays``.

    ``device`` is ``cpu``, or for a desktop GPU ``cuda`` / ``tensorrt`` with an optional
    precision for torch artifacts and TensorRT: ``cuda:fp16``, ``cuda:bf16``, ``tensorrt:fp16``.
    A GPU ``run`` carries ``run.device_timer(arrays) -> ms``, timed with CUDA events.
    """
    loaders = {
        "onnx": _load_onnx,
        "tflite": _load_tflite,
        "executorch": _load_executorch,
        "ptl": _load_ptl,
        "pt2": _load_pt2,
        "torchscript": _load_torchscript,
    }
    if fmt not in loaders:
        raise ValueError("no runtime for format %r in this worker" % fmt)
    return loaders[fmt](path, threads, device)


class Runner:
    """A loaded artifact in three steps: ``prepare`` host arrays into the runtime's inputs,
    ``invoke`` the inference (the timed part), ``finish`` its outputs into host arrays.

    Calling it runs all three: ``runner(list_of_arrays) -> list_of_arrays``. A GPU runner
    carries ``device_timer(arrays) -> ms``, timed with CUDA events.
    """

    def __init__(self, prepare, invoke, finish):
        self.prepare = prepare
        self.invoke = invoke
        self.finish = finish
        self.device_timer = None
        self.warmup_runs = 0
        self.compiled = None  # how a torch.compile'd runner was compiled, for the result's env
        # A context the timed loop enters once, as a user's own loop would (torch's
        # inference_mode): entered per call, it would be timed with every inference.
        self.loop_context = None

    def __call__(self, arrays):
        return self.finish(self.invoke(self.prepare(arrays)))


def _load_onnx(path, threads, device):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    kind, _, precision = device.partition(":")
    providers = _onnx_providers(kind, precision)
    session = ort.InferenceSession(path, sess_options=opts, providers=providers)
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if wanted not in session.get_providers():
        raise RuntimeError("onnxruntime could not enable %s (available: %s); install onnxruntime-gpu with a matching CUDA/TensorRT" % (wanted, ", ".join(ort.get_available_providers())))
    names = [i.name for i in session.get_inputs()]
    run = Runner(lambda arrays: dict(zip(names, arrays)), lambda feed: session.run(None, feed), list)
    name = "onnxruntime" if kind == "cpu" else "onnxruntime (%s)" % wanted
    return run, name, ort.__version__


def _onnx_providers(kind, precision):
    """Execution providers in priority order; the first is the one being measured."""
    if kind == "tensorrt":
        return [("TensorrtExecutionProvider", {"trt_fp16_enable": precision == "fp16"}), "CUDAExecutionProvider"]
    if kind == "cuda":
        return ["CUDAExecutionProvider"]
    return ["CPUExecutionProvider"]


def _load_tflite(path, threads, device):
    import numpy as np

    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "ai-edge-litert"
    except ImportError:  # boards often ship LiteRT's predecessor
        from tflite_runtime.interpreter import Interpreter

        runtime = "tflite-runtime"
    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()

    def prepare(arrays):  # into the interpreter's own input buffers, quantized where the file wants ints
        for detail, array in zip(inputs, arrays):
            if tuple(detail["shape"]) != tuple(array.shape):
                interpreter.resize_tensor_input(detail["index"], array.shape)
                interpreter.allocate_tensors()
            interpreter.set_tensor(detail["index"], _quantize(np, array, detail))

    def finish(_):
        return [_dequantize(np, interpreter.get_tensor(d["index"]), d) for d in outputs]

    return Runner(prepare, lambda _: interpreter.invoke(), finish), runtime, _version(runtime.replace("-", "_"))


def _quantize(np, array, detail):
    """Quantize a float input for an integer tensor with its own scale and zero point."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(array / scale + zero_point), info.min, info.max).astype(dtype)
    return array.astype(dtype)


def _dequantize(np, array, detail):
    scale, zero_point = detail["quantization"]
    if array.dtype.kind in "iu" and scale:
        return (array.astype(np.float32) - zero_point) * scale
    return array


def _load_executorch(path, threads, device):
    import torch
    from executorch.runtime import Runtime

    set_executorch_threads(threads)
    program = Runtime.get().load_program(path)
    method = program.load_method("forward")
    run = Runner(lambda arrays: [torch.from_numpy(a) for a in arrays], method.execute, lambda out: [o.detach().numpy() for o in out])
    return run, "executorch", _version("executorch")


def set_executorch_threads(threads):
    """XNNPACK's thread pool size; the runtime has no public option, only this private call."""
    try:
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(threads)
    except (ImportError, AttributeError):
        pass  # older or newer builds: the pool keeps its default (one thread per core)


def _load_ptl(path, threads, device):
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter

    torch.set_num_threads(threads)
    module = _load_for_lite_interpreter(path)
    return _torch_call(torch, module, "cpu"), "torch-lite-interpreter", torch.__version__


def _load_pt2(path, threads, device):
    import torch

    try:
        import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the Q/DQ ops a quantized .pt2 holds
    except ImportError:  # a torch without it still loads float programs
        pass
    torch.set_num_threads(threads)
    module = torch.export.load(path).module()
    return _torch_call(torch, module, device), "torch", torch.__version__


def _load_torchscript(path, threads, device):
    import torch

    torch.set_num_threads(threads)
    module = torch.jit.load(path, map_location=device.partition(":")[0])
    return _torch_call(torch, module, device), "torch", torch.__version__


TORCH_DTYPES = {"": "float32", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _torch_call(torch, module, device):
    """``run`` on numpy arrays; on CUDA in the requested precision, with a CUDA-event timer.

    ``device`` is ``KIND[:PRECISION][+compile]``, e.g. ``cpu``, ``cuda:fp16``, ``cuda:fp16+compile``.
    """
    kind, _, rest = device.partition(":")
    precision, _, mode = rest.partition("+")
    dtype = getattr(torch, TORCH_DTYPES[precision])
    if kind != "cpu":  # the lite interpreter's modules have no .to(); they only run on CPU
        module = module.to(kind)
    if dtype != torch.float32:
        module = module.to(dtype)
    compiled = mode == "compile"
    if compiled:
        module = _compile(torch, module, kind)

    def stage(arrays):
        tensors = [torch.from_numpy(a).to(kind) for a in arrays]
        tensors = [t.to(dtype) if t.is_floating_point() else t for t in tensors]
        return [_channels_last(torch, t) for t in tensors] if compiled else tensors

    def forward(tensors):
        if compiled and kind == "cuda":  # each call is a new step for CUDA graphs: the last outputs may be overwritten
            torch.compiler.cudagraph_mark_step_begin()
        if torch.is_inference_mode_enabled():  # inside the timed loop, which entered it once
            return module(*tensors)
        with torch.inference_mode():
            return module(*tensors)

    run = Runner(stage, forward, lambda out: [o.detach().float().cpu().numpy() for o in flatten_outputs(out)])
    run.loop_context = torch.inference_mode
    run.compiled = COMPILE_SETTING[kind == "cuda"] if compiled else None
    if kind == "cuda":
        run.device_timer = _cuda_timer(torch, stage, forward)
    return run


# What ``+compile`` does, as the result's env reports it (key: on CUDA).
COMPILE_SETTING = {
    True: "torch.compile (Inductor, mode reduce-overhead: CUDA graphs), frozen weights, channels_last, cudnn.benchmark",
    False: "torch.compile (Inductor, default mode), frozen weights, channels_last",
}


def _compile(torch, module, kind):
    """``module`` in channels_last, compiled by Inductor with its weights frozen as constants.

    Freezing lets Inductor fold batch norms into convolutions and pre-pack weights (an
    inference-only setting, hence only here). On CUDA, mode ``reduce-overhead`` replays the
    whole forward as one CUDA graph (MobileNetV2 at batch 1 on an H200: 6.3x eager fp32,
    README). channels_last is the layout cuDNN's tensor-core convolutions read directly.
    """
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    if kind == "cuda":
        torch.backends.cudnn.benchmark = True  # the shapes are fixed for the whole run
    module = module.to(memory_format=torch.channels_last)
    return torch.compile(module, mode="reduce-overhead" if kind == "cuda" else "default")


def _channels_last(torch, tensor):
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 and tensor.is_floating_point() else tensor


def _cuda_timer(torch, stage, forward):
    """Time one forward pass with CUDA events; inputs are copied to the GPU once, untimed."""
    staged = {}
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def timed(arrays):
        if staged.get("key") is not arrays:
            staged.update(key=arrays, tensors=stage(arrays))
        torch.cuda.synchronize()
        start.record()
        forward(staged["tensors"])
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    return timed


def _version(module_name):
    try:
        from importlib.metadata import version

        return version(module_name.replace("_", "-"))
    except Exception:  # metadata may be missing in an unpacked wheel
        module = __import__(module_name)
        return getattr(module, "__version__", "unknown")


def rss_bytes():
    """Peak resident set size of this process so far, in bytes.

    VmHWM is read first: unlike ru_maxrss, which Linux carries across execve from the
    parent (a CLI that already loaded torch), it starts afresh in the new program.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _ms_since(start_ns):
    return (time.perf_counter_ns() - start_ns) / 1e6


def steady_state(run, feed, warmup, min_iters, min_seconds, max_seconds):
    """Warm up (uncounted), then time the inference call until both minimums are met or time is up.

    The inputs are prepared once (``Runner.prepare``), as benchmark tools feed them; a GPU
    runner's CUDA-event timer is used where it has one.
    """
    with run.loop_context() if run.loop_context is not None else contextlib.nullcontext():
        return _timed_loop(run, feed, warmup, min_iters, min_seconds, max_seconds)


def _timed_loop(run, feed, warmup, min_iters, min_seconds, max_seconds):
    timer = run.device_timer
    prepared = run.prepare(feed) if timer is None else None
    call = (lambda: timer(feed)) if timer is not None else (lambda: run.invoke(prepared))
    run.warmup_runs = warm_up(call, warmup, max_seconds / 4)
    samples = []
    start = time.perf_counter()
    while True:
        if timer is not None:
            samples.append(timer(feed))
        else:
            t0 = time.perf_counter_ns()
            run.invoke(prepared)
            samples.append(_ms_since(t0))
        elapsed = time.perf_counter() - start
        if (len(samples) >= min_iters and elapsed >= min_seconds) or elapsed >= max_seconds:
            return samples


WARMUP_CHUNK = 5  # runs per warm-up chunk
WARMUP_STABLE = 0.10  # warm-up ends when a chunk's median is within 10% of the one before
WARMUP_MAX_CHUNKS = 20


def warm_up(call, warmup, max_seconds):
    """``warmup`` runs, then chunks of runs until their median settles; returns the runs done.

    Caches, lazy allocations and CPU frequency settle at different speeds per runtime and
    model: a fixed count either wastes time or times a cold model.
    """
    for _ in range(warmup):
        call()
    done, before = warmup, None
    start = time.perf_counter()
    for _ in range(WARMUP_MAX_CHUNKS):
        chunk = []
        for _ in range(WARMUP_CHUNK):
            t0 = time.perf_counter_ns()
            call()
            chunk.append(_ms_since(t0))
        done += WARMUP_CHUNK
        median = sorted(chunk)[WARMUP_CHUNK // 2]
        if before is not None and abs(median - before) <= WARMUP_STABLE * before or time.perf_counter() - start > max_seconds:
            break
        before = median
    return done


def pin_threads(threads):
    """Pin this worker to the ``threads`` least busy CPUs it may use; returns them (None: not pinned).

    Only when it runs fewer threads than it has CPUs: the scheduler then cannot move its
    threads between cores (and their caches) mid-measurement, and a core another job keeps
    busy is left to that job.
    """
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return None
    if threads >= len(allowed):
        return None
    busy = _busy_share(allowed)
    chosen = sorted(sorted(allowed, key=lambda cpu: (busy.get(cpu, 0.0), cpu))[:threads])
    try:
        os.sched_setaffinity(0, chosen)
    except OSError:
        return None
    return chosen


def _busy_share(cpus, seconds=0.1):
    """Each CPU's busy share over ``seconds``, from two reads of /proc/stat (empty if unreadable)."""

    def read():
        ticks = {}
        for line in (_read("/proc/stat") or "").splitlines():
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name[3:].isdigit():
                values = [int(v) for v in rest.split()]
                ticks[int(name[3:])] = (sum(values) - values[3] - (values[4] if len(values) > 4 else 0), sum(values))
        return ticks

    first = read()
    time.sleep(seconds)
    second = read()
    share = {}
    for cpu in cpus:
        if cpu in first and cpu in second and second[cpu][1] > first[cpu][1]:
            share[cpu] = (second[cpu][0] - first[cpu][0]) / float(second[cpu][1] - first[cpu][1])
    return share


def _usage():
    """(wall clock, this process's CPU seconds, involuntary context switches of all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime, usage.ru_nivcsw


def _contention(before, after):
    """How much other work took this worker's CPUs while it was being timed.

    ``preemptions_per_s``: the kernel switched a runnable thread of this worker out for
    another task (involuntary context switches). A worker alone on its cores sees a few
    per second; one sharing a core with a busy process sees about a hundred (measured on
    a 2-core x86 VM: 1-4 idle, 84-125 beside one or two busy loops). ``cpu_busy``: CPU
    seconds of this process per second of wall clock (1.0: one core busy throughout).
    """
    wall = max(after[0] - before[0], 1e-9)
    return {"preemptions_per_s": (after[2] - before[2]) / wall, "cpu_busy": (after[1] - before[1]) / wall}


def io_samples(run, feed, count, max_seconds):
    """``count`` timings of the host side of one run: inputs into the runtime's form, outputs back.

    What a caller that holds float arrays pays on top of the inference (quantizing a TFLite
    int8 input, numpy <-> torch, ...); reported as ``io_ms`` beside the invoke-only latency.
    """
    out = run.invoke(run.prepare(feed))
    samples = []
    start = time.perf_counter()
    while len(samples) < count and time.perf_counter() - start < max_seconds:
        t0 = time.perf_counter_ns()
        run.prepare(feed)
        run.finish(out)
        samples.append(_ms_since(t0))
    return samples


def run_batched(run, arrays, batch_size, pad=True):
    """Run every sample through the model in batches of ``batch_size``; concatenate each output.

    With ``pad`` a short last chunk is filled up by repeating its last sample and the extra
    rows are dropped again: a model exported at a fixed batch takes no other size.
    """
    import numpy as np

    count = arrays[0].shape[0]
    chunks = []
    for begin in range(0, count, batch_size):
        chunk = [a[begin : begin + batch_size] for a in arrays]
        real = chunk[0].shape[0]
        outs = run(fill_batch(chunk, batch_size) if pad else chunk)
        chunks.append([o[:real] if np.ndim(o) and np.shape(o)[0] == batch_size else o for o in outs])
    return [np.concatenate([np.asarray(c[k]) for c in chunks]) for k in range(len(chunks[0]))]


def fill_batch(arrays, batch_size):
    """The first ``batch_size`` samples, the last one repeated when there are fewer."""
    import numpy as np

    count = arrays[0].shape[0]
    if count >= batch_size:
        return [a[:batch_size] for a in arrays]
    index = np.minimum(np.arange(batch_size), count - 1)
    return [a[index] for a in arrays]


def flatten_outputs(out):
    """A model's outputs as a flat list, in the order torch.export flattens them (dicts by insertion)."""
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in flatten_outputs(item)]
    return [out]


# /proc/cpuinfo names of the instructions INT8 kernels use -> the names the results carry.
INT8_FEATURES = {"avx2": "avx2", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "amx_int8": "amx_int8", "asimddp": "dotprod", "i8mm": "i8mm"}


def cpu_facts():
    """CPU model and ISA flags from /proc/cpuinfo (x86 'flags', ARM 'Features'), and the INT8 ones by name."""
    facts = {"machine": platform.machine(), "logical_cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        return facts
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu part", "hardware") and "model" not in facts:
            facts["model"] = value.strip()
        elif key in ("flags", "features") and "flags" not in facts:
            facts["flags"] = value.split()
    facts["int8_features"] = [name for flag, name in INT8_FEATURES.items() if flag in facts.get("flags", ())]
    return facts


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip().strip("\x00")
    except OSError:
        return None


def board_facts():
    """Board model, CPU frequency governor and temperatures, where the kernel exposes them."""
    import glob

    facts = {}
    model = _read("/proc/device-tree/model")
    if model:
        facts["model"] = model
    cpufreq = "/sys/devices/system/cpu/cpu0/cpufreq/"
    for key, name in (("governor", "scaling_governor"), ("cur_freq_khz", "scaling_cur_freq"), ("max_freq_khz", "cpuinfo_max_freq")):
        value = _read(cpufreq + name)
        if value:
            facts[key] = value
    temps = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*"))[:8]:
        kind, milli = _read(zone + "/type"), _read(zone + "/temp")
        if kind and milli and milli.lstrip("-").isdigit():
            temps[kind] = int(milli) / 1000.0
    if temps:
        facts["temperature_c"] = temps
    return facts


def gpu_facts():
    """NVIDIA GPU name, driver and memory as nvidia-smi reports them (None without it)."""
    import subprocess

    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        text = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not text:
        return None
    name, _, rest = text.splitlines()[0].partition(",")
    driver, _, memory = rest.partition(",")
    return {"name": name.strip(), "driver": driver.strip(), "memory": memory.strip()}


def timing_method(run):
    if getattr(run, "device_timer", None) is not None:
        return "CUDA events around each forward pass (inputs already on the GPU), after torch.cuda.synchronize()"
    return "wall clock (time.perf_counter_ns) around the runtime's inference call, inputs prepared once in its own form; host conversion apart (io_ms)"


def environment(runtime, runtime_version, device="cpu", run=None):
    import numpy as np

    env = {
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_facts(),
        "board": board_facts(),
        "runtime": runtime,
        "runtime_version": runtime_version,
        "numpy": np.__version__,
        "device": device,
        "timing": timing_method(run),
    }
    if device != "cpu":
        env["gpu"] = gpu_facts()
    if getattr(run, "compiled", None):
        env["compile"] = run.compiled
    return env


def measure(request):
    """Load, time and run one artifact as the request says; return the result dict."""
    import numpy as np

    with np.load(request["inputs"]) as data:
        arrays = [data["in_%d" % i] for i in range(len(data.files))]
    import_ms = import_runtime(request["format"])
    pinned = pin_threads(request["threads"]) if request.get("device", "cpu") == "cpu" else None
    rss_before = rss_bytes()
    t0 = time.perf_counter_ns()
    device = request.get("device", "cpu")
    run, runtime, version = load_runner(request["format"], request["artifact"], request["threads"], device)
    init_ms = _ms_since(t0)
    feed = fill_batch(arrays, request["batch_size"])
    t0 = time.perf_counter_ns()
    run(feed)
    first_ms = _ms_since(t0)
    samples, io, contention = [], [], None
    if request["min_iters"] > 0:
        before = _usage()
        samples = steady_state(run, feed, request["warmup"], request["min_iters"], request["min_seconds"], request["max_seconds"])
        contention = _contention(before, _usage())
        io = io_samples(run, feed, len(samples), request["max_seconds"]) if run.device_timer is None else []
    outputs = run_batched(run, arrays, request.get("eval_batch_size") or request["batch_size"])
    np.savez(request["outputs"], **{"out_%d" % i: o for i, o in enumerate(outputs)})
    return {
        "import_ms": import_ms,
        "init_ms": init_ms,
        "first_inference_ms": first_ms,
        "samples_ms": samples,
        "io_samples_ms": io,
        "contention": contention,
        "peak_rss_bytes": rss_bytes(),
        "rss_before_load_bytes": rss_before,
        "peak_rss_method": PEAK_RSS_METHOD,
        "env": dict(environment(runtime, version, device, run), cpu_affinity=pinned, warmup_runs=run.warmup_runs),
        "error": None,
    }


def main(argv):
    with open(argv[1]) as handle:
        request = json.load(handle)
    try:
        result = measure(request)
    except Exception as exc:  # reported to the host as this cell's error
        result = {"error": "%s: %s" % (type(exc).__name__, exc), "traceback": traceback.format_exc()}
    with open(request["result"], "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
