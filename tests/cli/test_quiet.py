"""The CLI prints only edgepress's words: the frameworks' output goes to a log, --verbose shows it.

Every command runs in a real ``edgepress`` process with its own cache folder, so the logs
it keeps can be read back.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("tensorflow", "absl", "cuInit", "XNNPACK delegate", "Failed to load", "oneDNN", "pytree", "Traceback")
FAST = ("--iters", "3", "--min-seconds", "0", "--warmup", "0")


def edgepress_cli(*args, cwd: Path, cache: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``edgepress ARGS`` in a child process, its cache (and so its logs) in ``cache``."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "EDGEPRESS_CACHE": str(cache), **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgepress", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=environ, timeout=600)


def assert_no_noise(text: str) -> None:
    found = [word for word in NOISE if word.lower() in text.lower()]
    assert not found, f"framework output {found} reached the terminal:\n{text}"


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A Dense .keras, a Lambda .keras, an 8-sample .npz and a .pte with a truncated copy."""
    import keras
    import torch

    import edgepress

    folder = tmp_path_factory.mktemp("models")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).save(folder / "dense.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2)]).save(folder / "lambda.keras")
    np.savez(folder / "data.npz", x=np.random.default_rng(0).random((8, 4), dtype=np.float32), y=np.arange(8) % 3)
    torch.export.save(torch.export.export(torch.nn.Linear(4, 3).eval(), (torch.randn(1, 4),)), folder / "linear.pt2")
    (pte,) = edgepress.convert(edgepress.load(folder / "linear.pt2"), ["executorch"], out_dir=folder)
    (folder / "truncated.pte").write_bytes(pte.path.read_bytes()[:2000])
    return folder


@pytest.fixture(scope="module")
def keras_tflite(models, tmp_path_factory):
    """``edgepress convert dense.keras --to tflite``: the process and its output folder."""
    work = tmp_path_factory.mktemp("convert")
    proc = edgepress_cli("convert", models / "dense.keras", "--to", "tflite", "--out", "out", cwd=work, cache=work / "cache")
    return proc, work / "out"


@pytest.mark.slow
def test_a_keras_conversion_prints_only_edgepress(keras_tflite):
    proc, out = keras_tflite
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tflite", str(Path("out") / "dense.tflite"), f"({(out / 'dense.tflite').stat().st_size}", "bytes)"]
    assert proc.stderr.strip() == "done: converting dense.keras to tflite"
    log = (out / ".edgepress" / "logs" / "convert.log").read_text()
    assert "absl" in log  # TensorFlow's start-up lines, from this process
    assert "pass 'convert.tflite' wrote on stderr" in log  # and from the converter's child process


@pytest.mark.slow
def test_measuring_a_tflite_keeps_the_runtime_notices_in_the_log(keras_tflite):
    _, out = keras_tflite
    work = out.parent
    proc = edgepress_cli("bench", out / "dense.tflite", *FAST, cwd=work, cache=work / "bench-cache")
    assert proc.returncode == 0, proc.stderr
    assert_no_noise(proc.stdout + proc.stderr)
    assert "XNNPACK delegate" in (work / "bench-cache" / "logs" / "bench.log").read_text()  # no OUT: the cache's logs
    verbose = edgepress_cli("bench", out / "dense.tflite", *FAST, "--verbose", cwd=work, cache=work / "bench-cache")
    assert verbose.returncode == 0 and "XNNPACK delegate" in verbose.stderr


@pytest.mark.slow
def test_a_keras_lambda_refusal_is_one_line(models, tmp_path):
    proc = edgepress_cli("convert", models / "lambda.keras", "--to", "onnx", "--out", "out", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert one_line(proc) == f"error: {models / 'lambda.keras'} holds Lambda layers whose Python code would run on load, which safe mode refuses; replace them with built-in or registered custom layers and re-save"
    assert not (tmp_path / "out").exists()  # bad input writes nothing, not even a log there
    assert "absl" in (tmp_path / "cache" / "logs" / "convert.log").read_text()


@pytest.mark.slow
def test_a_truncated_pte_is_one_line(models, tmp_path):
    proc = edgepress_cli("bench", models / "truncated.pte", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert one_line(proc).startswith(f"error: {models / 'truncated.pte'} is a damaged or unsupported executorch file")
    assert "File size is too small" in (tmp_path / "cache" / "logs" / "bench.log").read_text()  # the runtime's own C++ line


@pytest.mark.slow
def test_a_pte_measurement_prints_only_edgepress(models, tmp_path):
    proc = edgepress_cli("bench", models / "linear.pte", "--data", models / "data.npz", "--json", "r.json", *FAST, cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert_no_noise(proc.stdout + proc.stderr)
    assert (tmp_path / ".edgepress" / "logs" / "bench.log").exists()  # --json names the output folder


@pytest.mark.slow
def test_the_default_table_fits_120_columns_and_wide_has_every_column(models, tmp_path):
    args = ("bench", models / "linear.pte", "--ref", models / "linear.pt2", "--data", models / "data.npz", *FAST)
    narrow = edgepress_cli(*args, cwd=tmp_path, cache=tmp_path / "cache")
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 120
    assert "p50 ms" in narrow.stdout and "linear.pte" in narrow.stdout and "p99 ms" not in narrow.stdout
    wide = edgepress_cli(*args, "--wide", cwd=tmp_path, cache=tmp_path / "cache")
    assert wide.returncode == 0 and all(column in wide.stdout for column in ("init ms", "p99 ms", "cosine", "vs host-cpu"))
    assert max(len(line) for line in wide.stdout.splitlines()) > 120


def test_a_bug_is_one_line_and_its_traceback_is_in_the_log(tmp_path):
    (tmp_path / "broken_passes.py").write_text("raise RuntimeError('plugin module is broken')\n")
    proc = edgepress_cli("passes", cwd=tmp_path, cache=tmp_path / "cache", env={"EDGEPRESS_PLUGINS": "broken_passes"})
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith("error: edgepress failed unexpectedly (RuntimeError: plugin module is broken)")
    log = tmp_path / "cache" / "logs" / "passes.log"
    assert str(log) in line and "Traceback" in log.read_text() and "broken_passes.py" in log.read_text()


def test_a_usage_error_is_one_line(tmp_path):
    proc = edgepress_cli("convert", "m.pt2", "--bogus", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith("error: No such option: --bogus") and line.endswith("edgepress convert --help')")


@pytest.mark.parametrize(
    "command, words",
    [("sweep", ("[model]", "[[recipe]]", "[data]", "[run]")), ("run", ("[model]", "[[pass]]", "[output]", "[bench]"))],
)
def test_help_keeps_bracketed_words(command, words, tmp_path):
    proc = edgepress_cli(command, "--help", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert all(word in text for word in words), text


def test_help_does_not_import_rich():
    # rich (its help renderer with a markdown parser, its consoles) was most of `edgepress --help`'s start-up time
    code = "import sys\nfrom edgepress.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'markdown_it')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "Commands:" in proc.stdout and proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("echo", [False, True])
def test_captured_sends_fd_2_to_the_log_and_echo_copies_it(tmp_path, echo):
    log = tmp_path / "logs" / "x.log"
    code = (
        "import os, sys, warnings\nfrom pathlib import Path\nfrom edgepress import quiet\n"
        f"with quiet.captured(Path({str(log)!r}), echo={echo}):\n"
        "    os.write(2, b'native line\\n')\n    warnings.warn('python warning')\n"
        "    quiet.log_child_output('a child', b'child line')\n    print('for the user', file=quiet.user_stderr())\n"
        "print('after', file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    kept = log.read_text()
    assert all(text in kept for text in ("native line", "python warning", "a child wrote on stderr:\nchild line")) and "for the user" not in kept
    shown = proc.stderr.splitlines()
    assert ("native line" in proc.stderr) is echo and ("python warning" in proc.stderr) is echo
    assert "for the user" in shown and shown[-1] == "after"


def test_the_lazy_console_drives_rich_progress_and_status():
    """distill's epoch bar is a rich Progress on err_console; step() uses its status spinner."""
    from rich.progress import Progress

    from edgepress.cli.common import LazyConsole

    lazy = LazyConsole(record=True, force_terminal=True, width=80)
    with Progress(console=lazy) as bar:
        task = bar.add_task("epochs", total=2)
        bar.update(task, advance=2)
    with lazy.status("converting"):
        pass
    assert "epochs" in lazy.export_text()
