"""The ssh:// target against a real OpenSSH server on 127.0.0.1 (see conftest.sshd)."""

from __future__ import annotations

import glob
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgepress.artifact import Format
from edgepress.errors import BadInputError, RuntimeFailure
from edgepress.targets.base import resolve
from edgepress.targets.host_cpu import HostCpu
from edgepress.targets.remote import SshAddress, SshTarget

pytestmark = pytest.mark.slow


def _inputs(n=3):
    return [np.random.default_rng(0).standard_normal((n, 3, 16, 16)).astype(np.float32)]


def _leftovers() -> set[str]:
    return set(glob.glob(str(Path(tempfile.gettempdir()) / "edgepress-remote-*")))


def _python_without(tmp_path: Path, module: str) -> Path:
    """A device Python that cannot import ``module`` (the venv's, with the module hidden)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    wrapper = tmp_path / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={hide} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_measures_on_the_device_and_cleans_up(sshd, onnx_artifact, fast):
    before = _leftovers()
    target = resolve(sshd.url(python=sys.executable))
    assert target.name == f"ssh://{sshd.user}@127.0.0.1:{sshd.port}"
    assert target.unavailable_reason() is None and target.format_reason(Format.ONNX) is None
    m = target.measure(onnx_artifact, _inputs(), fast)
    expected = HostCpu().load(onnx_artifact)(_inputs())[0]
    np.testing.assert_allclose(m.outputs[0], expected, rtol=1e-5, atol=1e-6)
    assert len(m.raw["samples_ms"]) >= fast.min_iters and m.raw["init_ms"] > 0
    env = m.raw["env"]
    assert env["device_address"] == target.name and env["cpu"]["logical_cores"] >= 1
    assert "board" in env and env["runtime"] == "onnxruntime"
    assert _leftovers() == before


def test_bench_over_ssh_records_drift(sshd, onnx_artifact, torch_model, fast):
    import edgepress

    [result] = edgepress.bench(onnx_artifact, target=sshd.url(python=sys.executable), reference=torch_model, settings=fast)
    assert result.ok, result.error
    assert result.drift.max_abs < 1e-3 and not result.env["emulated"]


def test_a_device_without_the_runtime_says_so(sshd, onnx_artifact, fast, tmp_path):
    target = resolve(sshd.url(python=str(_python_without(tmp_path, "onnxruntime"))))
    assert target.unavailable_reason() is None
    reason = target.format_reason(Format.ONNX)
    assert "lacks the onnx runtime (onnxruntime)" in reason and "pip install onnxruntime" in reason
    with pytest.raises(RuntimeFailure, match="lacks the onnx runtime"):
        target.measure(onnx_artifact, _inputs(), fast)


def test_a_device_python_without_numpy_is_unavailable(sshd, tmp_path):
    target = resolve(sshd.url(python=str(_python_without(tmp_path, "numpy"))))
    assert "has no numpy" in target.unavailable_reason()


def test_host_keys_are_checked(sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = resolve(sshd.url(python=sys.executable, known_hosts=str(empty)))
    assert "host key verification failed" in target.unavailable_reason()


def test_an_unreachable_device_is_unavailable(sshd):
    url = sshd.url(connect_timeout="5").replace(f":{sshd.port}?", ":1?")
    assert resolve(url).unavailable_reason().startswith("cannot reach")


def test_a_missing_python_is_explained(sshd):
    assert "pass ?python=" in resolve(sshd.url(python="/nonexistent/python3")).unavailable_reason()


def test_a_runtime_failure_on_the_device_is_an_error(sshd, onnx_artifact, fast, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    art = onnx_artifact.derive(path=broken, side_files=())
    with pytest.raises(RuntimeFailure, match="broken.onnx on ssh://"):
        resolve(sshd.url(python=sys.executable)).measure(art, _inputs(), fast)


def test_addresses_parse():
    address = SshAddress.parse("pi@raspberrypi.local:2222?python=python3.11")
    assert (address.user, address.host, address.port, address.python) == ("pi", "raspberrypi.local", 2222, "python3.11")
    argv = address.ssh_argv(["true"])
    assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv and argv[-3:] == ["pi@raspberrypi.local", "--", "true"]
    with pytest.raises(BadInputError, match="port"):
        SshAddress.parse("pi@host:99999")
    with pytest.raises(BadInputError, match="unknown ssh target option"):
        SshAddress.parse("pi@host?pasword=x")
    assert "needs a device address" in SshTarget().unavailable_reason()
