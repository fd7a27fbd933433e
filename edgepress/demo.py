"""The built-in demo: a small CNN trained on scikit-learn's digits, converted and measured.

Real labelled data (1,797 8x8 handwritten digits), a few seconds of training on a CPU,
cached so later runs skip it. The same model serves tests and benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepress import digits

DEMO_FORMATS = ["pt2", "onnx", "tflite", "executorch", "ptl"]
# ExecuTorch under emulation needs a 600 MB aarch64 torch in the sysroot and minutes per
# import: the demo checks the two light runtimes on ARM; `edgepress bench` can do .pte too.
ARM_DEMO_FORMATS = ("onnx", "tflite")


def run_demo(out_dir: Path, settings: Any = None, progress: Any = None) -> list[Any]:
    """Train (or load) the digits CNN, convert it to every format, measure on host-cpu and emulated ARM."""
    from edgepress.conversion import convert
    from edgepress.measure import bench
    from edgepress.report.html import write_html_report
    from edgepress.report.results import write_results

    say = progress or (lambda _msg: None)
    say("training the digits CNN (cached after the first run)")
    model = digits.model()
    say(f"converting to {', '.join(DEMO_FORMATS)} (each converter in its own process)")
    artifacts = convert(model, DEMO_FORMATS, out_dir=out_dir)
    say("measuring on host-cpu")
    data = digits.held_out_arrays()
    results = bench(artifacts, target="host-cpu", reference=model, data=data, settings=settings, progress=say)
    say("compression chain: prune 50% of channels -> distill from the original -> INT8 -> TFLite")
    small = compression_chain(model, out_dir / "chain")
    results += bench([small], target="host-cpu", reference=model, data=data, settings=settings, progress=say)
    results += _emulated_arm([a for a in artifacts if a.format.value in ARM_DEMO_FORMATS], model, data, settings, say)
    write_results(out_dir / "results.json", results)
    say("writing the HTML report")
    write_html_report(results, out_dir / "report.html", title="edgepress demo: digits CNN")
    return results


# The chain the demo shows: what a user writes in a recipe TOML, as a dict.
CHAIN = [
    {"name": "prune.channels", "ratio": 0.5, "round_to": 8},
    {"name": "distill.kd", "data": "digits", "epochs": 30, "patience": 8},
    {"name": "quantize.int8_static", "data": "digits"},
    {"name": "convert.tflite"},
]


def compression_chain(model: Any, out_dir: Path) -> Any:
    """Run CHAIN on the demo model; returns the INT8 TFLite artifact."""
    from edgepress.passes import Recipe
    from edgepress.recipe_file import with_builtin_data

    recipe = with_builtin_data(Recipe.from_dict({"pass": CHAIN}))
    return recipe.run(model, out_dir)[-1]


def _emulated_arm(artifacts: list[Any], model: Any, data: Any, settings: Any, say: Any) -> list[Any]:
    """The Raspberry Pi 5 CPU under QEMU (correctness and drift), where QEMU is installed."""
    from edgepress.measure import bench
    from edgepress.targets.arm import Arm64Emu

    arm = Arm64Emu()
    runnable = [a for a in artifacts if arm.format_reason(a.format) is None]
    if arm.unavailable_reason() or not runnable:
        say(f"skipping {arm.name}: {arm.unavailable_reason() or 'no artifact it runs'}")
        return []
    say(f"checking on {arm.name} (emulated: drift, not speed)")
    return bench(runnable, target=arm.name, reference=model, data=data, settings=settings, progress=say)
