"""The device side of the ``ssh://`` target: stdlib only, Python 3.8+, sent with ``python -c``.

``probe``: print a JSON line with the device's Python, machine and which runtimes import.
``run TIMEOUT MODULE...``: read a tar (measure_worker.py, request.json, the artifact, in.npz) from
stdin into a fresh temporary directory, check that numpy and MODULE... import, run the
worker with this Python under TIMEOUT seconds, write a tar (status.json, result.json,
out.npz) to stdout, and remove the temporary directory whatever happened.
"""

import importlib.util
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile

PROBED = ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "executorch", "torch")
RESULT_FILES = ("result.json", "out.npz")


def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def probe():
    facts = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "machine": platform.machine(),
        "os": platform.platform(),
        "modules": {name: importable(name) for name in PROBED},
    }
    print(json.dumps(facts))


def extract(stream, work):
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            # Only plain files at the top level: nothing can land outside ``work``.
            if member.isfile() and os.path.basename(member.name) == member.name:
                tar.extract(member, work)


def run_worker(work, timeout, modules):
    missing = [name for name in ["numpy"] + modules if not any(importable(alt) for alt in name.split("|"))]
    if missing:
        return {"missing": missing, "python": platform.python_version(), "executable": sys.executable}
    request_path = os.path.join(work, "request.json")
    with open(request_path) as handle:
        request = json.load(handle)
    for key in ("artifact", "inputs", "outputs", "result"):
        request[key] = os.path.join(work, request[key])
    with open(request_path, "w") as handle:
        json.dump(request, handle)
    try:
        proc = subprocess.run([sys.executable, os.path.join(work, "measure_worker.py"), request_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    tail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
    return {"returncode": proc.returncode, "tail": tail[-1][-300:] if tail else ""}


def reply(work, status):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = json.dumps(status).encode()
        info = tarfile.TarInfo("status.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in RESULT_FILES:
            path = os.path.join(work, name)
            if os.path.exists(path):
                tar.add(path, arcname=name)
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()


def run(timeout, modules):
    work = tempfile.mkdtemp(prefix="edgepress-remote-")
    try:
        extract(sys.stdin.buffer, work)
        reply(work, run_worker(work, timeout, modules))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    if argv[1:2] == ["probe"]:
        probe()
    elif argv[1:2] == ["run"]:
        run(float(argv[2]), argv[3:])
    else:
        sys.stderr.write("usage: probe | run TIMEOUT MODULE...\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
