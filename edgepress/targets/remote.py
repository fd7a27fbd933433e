"""``ssh://user@host[:port]``: a real device reached over SSH, measured with its own Python.

The artifact, the self-contained worker and the inputs travel to the device in one tar
stream over one SSH connection; the device's Python (with the runtime the device
already has) runs the worker in a temporary directory that is removed afterwards, and
the JSON result and outputs come back the same way. Host keys are checked
(``StrictHostKeyChecking=yes``) unless the address says otherwise.

Address options go in the query string:
``ssh://pi@raspberrypi.local:22?python=/usr/bin/python3&identity=~/.ssh/id_pi``
(``python``, ``identity``, ``known_hosts``, ``config``, ``connect_timeout`` seconds, and
``host_key=accept-new`` to trust a device seen for the first time).
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from edgepress.artifact import Artifact, Format
from edgepress.errors import BadInputError, RuntimeFailure
from edgepress.targets import measure_worker, remote_agent
from edgepress.targets.base import Measurement, RunFn, RunSettings
from edgepress.targets.launch import describe_exit
from edgepress.targets.runtimes import RUNTIMES, not_an_edge_artifact

if TYPE_CHECKING:
    import numpy as np

QUERY_KEYS = ("python", "identity", "known_hosts", "config", "connect_timeout", "host_key")
MIN_PYTHON = (3, 8)


@dataclass(frozen=True)
class SshAddress:
    """Where the device is and how to reach it.

    Example:
        >>> SshAddress.parse("//pi@raspberrypi.local:2222?python=python3.11").port
        2222
    """

    host: str
    user: str | None = None
    port: int | None = None
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SshAddress:
        try:
            parts = urlsplit(text if text.startswith("//") else "//" + text)  # raises on a broken [IPv6] host
            port = parts.port
        except ValueError:
            raise BadInputError(f"ssh target {text!r} is not user@host[:port] (a host name, an IPv4 or [IPv6] address; a port 1-65535)") from None
        if not parts.hostname:
            raise BadInputError(f"ssh target needs a host: ssh://user@host[:port], got 'ssh:{text}'")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - set(QUERY_KEYS))
        if unknown:
            raise BadInputError(f"unknown ssh target option(s) {', '.join(unknown)}; known: {', '.join(QUERY_KEYS)}")
        if query.get("host_key", "yes") not in ("yes", "accept-new"):
            raise BadInputError("host_key must be 'yes' (default) or 'accept-new'")
        return cls(parts.hostname, parts.username, port, query)

    @property
    def name(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.host}{port}"

    @property
    def python(self) -> str:
        return self.options.get("python", "python3")

    def ssh_argv(self, remote_command: list[str]) -> list[str]:
        """The ssh command line that runs ``remote_command`` on the device."""
        timeout = self.options.get("connect_timeout", "15")
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={self.options.get('host_key', 'yes')}"]
        argv += ["-o", f"ConnectTimeout={timeout}", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if "config" in self.options:
            argv += ["-F", str(Path(self.options["config"]).expanduser())]
        if "identity" in self.options:
            argv += ["-i", str(Path(self.options["identity"]).expanduser()), "-o", "IdentitiesOnly=yes"]
        if "known_hosts" in self.options:
            argv += ["-o", f"UserKnownHostsFile={Path(self.options['known_hosts']).expanduser()}"]
        if self.port:
            argv += ["-p", str(self.port)]
        destination = f"{self.user}@{self.host}" if self.user else self.host
        return [*argv, destination, "--", shlex.join(remote_command)]


class SshTarget:
    """A real device over SSH; see the module docstring for the address format."""

    emulated = False

    def __init__(self, option: str | None = None) -> None:
        self.address = SshAddress.parse(option) if option else None
        self.name = self.address.name if self.address else "ssh://user@host[:port]"
        self._facts: dict[str, Any] | None = None
        self._probe_error: str | None = None

    def unavailable_reason(self) -> str | None:
        if self.address is None:
            return "needs a device address: --target ssh://user@host[:port]"
        facts = self.device_facts()
        if facts is None:
            return self._probe_error
        version = tuple(int(v) for v in facts["python"].split(".")[:2])
        if version < MIN_PYTHON:
            return f"the device's Python is {facts['python']}; the worker needs 3.8 or newer (pass ?python=/path/to/python3)"
        if not facts["modules"].get("numpy"):
            return f"the device's Python ({facts['executable']}) has no numpy: install it on the device (pip install numpy)"
        return None

    def format_reason(self, fmt: Format) -> str | None:
        facts = self.device_facts()
        if fmt not in RUNTIMES:
            return not_an_edge_artifact(fmt)
        if facts is None:
            return self._probe_error
        runtime = RUNTIMES[fmt]
        if not any(facts["modules"].get(m) for m in runtime.choices):
            return (
                f"the device {self.name} lacks the {fmt.value} runtime ({runtime.modules.replace('|', ' or ')}) for {facts['executable']}: "
                f"install it there ({runtime.install})"
            )
        return None

    def device_facts(self) -> dict[str, Any] | None:
        """The device's Python, machine and importable runtimes (probed once; None if unreachable)."""
        if self._facts is None and self._probe_error is None and self.address is not None:
            try:
                out = self._ssh([self.address.python, "-c", _agent_source(), "probe"], b"", 60)
                self._facts = json.loads(out.decode().strip().splitlines()[-1])
            except RuntimeFailure as exc:
                self._probe_error = str(exc)
        return self._facts

    def load(self, artifact: Artifact) -> RunFn:
        raise RuntimeFailure(f"{self.name} runs artifacts on the device only; use measure() (edgepress bench)")

    def measure(self, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> Measurement:
        reason = self.unavailable_reason() or self.format_reason(artifact.format)
        if reason:
            raise RuntimeFailure(reason)
        modules = RUNTIMES[artifact.format].modules
        with tempfile.TemporaryFile() as bundle:
            _write_bundle(bundle, artifact, inputs, settings)
            bundle.seek(0)
            command = [self.address.python, "-c", _agent_source(), "run", str(settings.timeout_s), modules]
            reply = self._ssh(command, bundle, settings.timeout_s + 60)
        return self._read_reply(reply, artifact)

    def _ssh(self, command: list[str], stdin: Any, timeout_s: float) -> bytes:
        argv = self.address.ssh_argv(command)
        feed = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, **feed)
        except FileNotFoundError:
            raise RuntimeFailure("the ssh client is not installed (apt-get install openssh-client)") from None
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(f"{self.name} did not answer within {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeFailure(self._explain(proc.returncode, proc.stderr.decode(errors="replace")))
        return proc.stdout

    def _explain(self, code: int, stderr: str) -> str:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no output)"
        if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return f"cannot reach {self.name}: host key verification failed; check the key with a plain 'ssh' once (or pass ?known_hosts=FILE)"
        if code == 255:
            return f"cannot reach {self.name}: {last}"
        if code == 127:
            return f"{self.name} has no {self.address.python!r}: pass ?python=/path/to/python3"
        return f"{self.name}: {self.address.python} exited with status {code}: {last}"

    def _read_reply(self, reply: bytes, artifact: Artifact) -> Measurement:
        import numpy as np

        files = _untar(reply)
        status = json.loads(files["status.json"])
        if status.get("missing"):
            raise RuntimeFailure(f"the device {self.name} lacks {', '.join(status['missing'])} for {status['executable']}: install it there")
        if "timeout" in status:
            raise RuntimeFailure(f"the runtime on {self.name} did not finish within {status['timeout']:.0f} s and was stopped")
        if "result.json" not in files:
            raise RuntimeFailure(f"on {self.name}: {describe_exit(status['returncode'])}; last output: {status.get('tail') or '(none)'}")
        raw = json.loads(files["result.json"])
        if raw.get("error"):
            raise RuntimeFailure(f"{artifact.name} on {self.name}: {raw['error']}")
        with np.load(io.BytesIO(files["out.npz"])) as data:
            outputs = [data[f"out_{i}"] for i in range(len(data.files))]
        raw["env"]["device_address"] = self.name
        return Measurement(raw=raw, outputs=outputs)


# `python -c` puts the device user's working directory (their home) first on sys.path, and
# -P needs Python 3.11: the agent drops that entry before it imports anything.
_DROP_WORKING_DIR = "import sys\nif sys.path and sys.path[0] in ('', '.'):\n    del sys.path[0]\n"


def _agent_source() -> str:
    return _DROP_WORKING_DIR + Path(remote_agent.__file__).read_text()


def _write_bundle(handle: Any, artifact: Artifact, inputs: list[np.ndarray], settings: RunSettings) -> None:
    """Tar the worker, the artifact (with its side files), the inputs and the request."""
    import numpy as np

    arrays = io.BytesIO()
    np.savez(arrays, **{f"in_{i}": a for i, a in enumerate(inputs)})
    request = {"artifact": artifact.path.name, "format": artifact.format.value, "inputs": "in.npz", "outputs": "out.npz", "result": "result.json", "device": "cpu", **settings.to_dict()}
    with tarfile.open(fileobj=handle, mode="w") as tar:
        tar.add(measure_worker.__file__, arcname="measure_worker.py")
        for path in artifact.files:
            tar.add(path, arcname=path.name)
        _add_bytes(tar, "in.npz", arrays.getvalue())
        _add_bytes(tar, "request.json", json.dumps(request).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _untar(data: bytes) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
    except tarfile.TarError:
        raise RuntimeFailure(f"the device sent an unreadable reply ({len(data)} bytes); is its login shell printing text?") from None
