"""Where a language model's speed worker runs: ``host-cpu``, or an aarch64 CPU model under QEMU (``arm64-emu``) to check it there.

On ``arm64-emu`` the worker is the same ``edgepress.lm.speed`` run by the emulation
sysroot's Python with its aarch64 ONNX Runtime and LiteRT. A decoder generates greedily
from the prompt, and its tokens are compared with the same artifact's on the host and with
the reference's; an encoder embeds the first sentences of the text, and its embeddings are
compared with the same artifact's on the host (cosine). Emulated speed says nothing of a
real core; the results mark it. Quality (perplexity, KL, cosine against the reference)
stays a host measurement of the same file.
"""

from __future__ import annotations

from collections.abc import Iterable

from edgepress.artifact import Format
from edgepress.errors import BadInputError
from edgepress.lm.speed import HOST, Runner

LM_TARGETS = ("host-cpu", "arm64-emu[:CPU]")


def lm_runner(target: str, formats: Iterable[Format]) -> Runner:
    """The runner of ``target`` for artifacts of ``formats``, or one line saying why they cannot run there."""
    return HOST if check_lm_target(target, formats) == "host-cpu" else _emulated(target)


def check_lm_target(target: str, formats: Iterable[Format]) -> str:
    """The kind of ``target`` if it runs artifacts of ``formats`` (decoders or encoders), else one line saying why not (nothing is built)."""
    from edgepress.targets.base import resolve_available

    if check_target_name(target) == "host-cpu":
        resolve_available(target)  # host-cpu takes no option: a typo is refused as it is for other models
        return "host-cpu"
    if Format.EXECUTORCH in set(formats):
        raise BadInputError("edgepress does not run .pte language models on arm64-emu: its emulation sysroot carries ExecuTorch 1.0.1 "
                            f"(the newest whose aarch64 torch is CPU-only) and the .pte was written for ExecuTorch {_version('executorch')}; "
                            "check the .onnx or .tflite there")
    resolve_available(target)  # an unknown CPU model, or no QEMU here
    return "arm64-emu"


def check_target_name(target: str) -> str:
    """The kind of ``target`` (``host-cpu`` or ``arm64-emu``), or one line naming the targets language models run on."""
    kind = target.strip().partition(":")[0]
    if kind not in ("host-cpu", "arm64-emu"):
        raise BadInputError(f"language models are measured on {' or '.join(LM_TARGETS)} (got --target {target})")
    return kind


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"


def _emulated(target: str) -> Runner:
    from edgepress.quiet import user_stderr
    from edgepress.targets import qemu, sysroot
    from edgepress.targets.arm import Arm64Emu
    from edgepress.targets.base import resolve_available

    emu = resolve_available(target)
    assert isinstance(emu, Arm64Emu)  # check_lm_target ran first
    root = sysroot.ensure(progress=lambda message: print(f"edgepress: {message}", file=user_stderr(), flush=True))
    facts = {"emulated": True, "cpu_model": emu.cpu, "qemu_cpu": emu.qemu_cpu, "qemu": qemu.qemu_version(),
             "runtime": (sysroot.read_marker(root) or {}).get("verified", {})}
    return Runner(emu.name, tuple(qemu.python_argv(root, emu.qemu_cpu)), qemu.guest_env(), facts)
