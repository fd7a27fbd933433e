"""Fixtures for target tests: a real OpenSSH server on 127.0.0.1 with generated keys."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class LocalSshd:
    """A running sshd: where it listens and the client files that reach it."""

    port: int
    user: str
    identity: Path
    known_hosts: Path

    def url(self, **options: str) -> str:
        query = {"identity": str(self.identity), "known_hosts": str(self.known_hosts), **options}
        return f"ssh://{self.user}@127.0.0.1:{self.port}?" + "&".join(f"{k}={v}" for k, v in query.items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _config(tmp: Path, port: int, authorized: Path, host_key: Path) -> Path:
    sftp = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server") if Path(p).exists()), "internal-sftp")
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        f"PidFile {tmp / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
        f"Subsystem sftp {sftp}\nLogLevel ERROR\n"
    )
    return config


def _wait_listening(port: int, proc: subprocess.Popen, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {proc.stderr.read().decode()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {seconds} s")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> LocalSshd:
    """sshd -D on a free port, as the current user, with generated host and client keys."""
    if not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen")):
        pytest.skip("OpenSSH server/client not installed (make setup installs openssh-server and openssh-client)")
    tmp = tmp_path_factory.mktemp("sshd")
    os.chmod(tmp, 0o700)
    _keygen(tmp / "host_key")
    _keygen(tmp / "client_key")
    shutil.copy(tmp / "client_key.pub", tmp / "authorized_keys")
    port = _free_port()
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {(tmp / 'host_key.pub').read_text()}")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(_config(tmp, port, tmp / "authorized_keys", tmp / "host_key"))], stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        yield LocalSshd(port, getpass.getuser(), tmp / "client_key", tmp / "known_hosts")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
