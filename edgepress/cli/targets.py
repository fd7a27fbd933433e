"""``edgepress targets`` (what runs here, and why not) and ``edgepress targets setup TARGET``."""

from __future__ import annotations

from typing import Annotated

import typer

from edgepress.cli.common import cli_errors, console, err_console
from edgepress.errors import BadInputError

app = typer.Typer(invoke_without_command=True, no_args_is_help=False, help="List targets and whether they can run here; 'setup' prepares one.")


@app.callback()
@cli_errors
def list_targets(ctx: typer.Context) -> None:
    """List every target (with its variants) and whether it can run here, or why not."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from edgepress.targets.base import known_targets

    table = Table(title="targets")
    for column in ("target", "status", "notes"):
        table.add_column(column)
    for kind in known_targets():
        for target, note in _variants(kind):
            reason = target.unavailable_reason()
            status = "[green]available[/]" if reason is None else f"[yellow]unavailable:[/] {reason}"
            table.add_row(target.name, status, note)
    console.print(table)


def _variants(target: object) -> list[tuple[object, str]]:
    """A kind's named variants (arm64-emu's CPU models, gpu's providers) with a note each."""
    from edgepress.targets.arm import CPU_MODELS, Arm64Emu
    from edgepress.targets.gpu import Gpu

    if isinstance(target, Arm64Emu):
        return [(Arm64Emu(cpu), f"emulated (correctness and drift only): {about}") for cpu, (_, about) in CPU_MODELS.items()]
    if isinstance(target, Gpu):
        options = {None: "ONNX Runtime CUDA EP; PyTorch CUDA fp32", "tensorrt": "ONNX Runtime TensorRT EP", "fp16": "PyTorch CUDA fp16", "bf16": "PyTorch CUDA bf16",
                   "fp16+compile": ".pt2 through torch.compile (channels_last, frozen weights, CUDA graphs) in fp16",
                   "fast": "the runner's fastest setting: fp16 + compile for .pt2, TensorRT fp16 for ONNX where available"}
        return [(Gpu(option), note) for option, note in options.items()]
    return [(target, "emulated" if target.emulated else "")]


@app.command("setup")
@cli_errors
def setup(
    target: Annotated[str, typer.Argument(help="Target to prepare, e.g. arm64-emu.")],
    executorch: Annotated[bool, typer.Option(help="arm64-emu: also install the aarch64 ExecuTorch runtime (+600 MB).")] = False,
) -> None:
    """Prepare a target ahead of use (arm64-emu: build and verify the aarch64 sysroot)."""
    from edgepress.targets import sysroot
    from edgepress.targets.base import resolve

    resolved = resolve(target)
    if not target.startswith("arm64-emu"):
        console.print(f"{resolved.name}: nothing to set up", highlight=False)
        return
    reason = resolved.unavailable_reason()
    if reason:
        raise BadInputError(f"cannot set up {resolved.name}: {reason}")
    with err_console.status("building the aarch64 sysroot") as status:
        root = sysroot.ensure(executorch=executorch, progress=lambda message: status.update(message))
    verified = sysroot.verify(root, resolved.qemu_cpu, executorch=executorch)
    versions = ", ".join(f"{k} {v}" for k, v in verified.items() if k != "machine")
    console.print(f"{resolved.name}: ready in {root} ({versions})", highlight=False)
