"""Which operators of a ``.tflite`` LiteRT's XNNPACK delegate takes, and which it leaves.

LiteRT applies XNNPACK by default on CPU and silently runs whatever XNNPACK refuses on its
own builtin kernels, splitting the graph into several delegate partitions with tensors
copied between them. Those leftovers, and QUANTIZE/DEQUANTIZE pairs in the middle of an
INT8 graph, are the usual reasons an INT8 file is not faster than its FP32 twin, so the
conversion report counts them (the ``fallback_ops`` flag, as for ExecuTorch's portable ops).

The answer comes from loading the file in this host's LiteRT: the interpreter's node list
holds the original operators plus one ``DELEGATE`` node per partition, and a partition's
operators are found by walking back from its outputs to its inputs. LiteRT's Python API
exposes that list only through ``Interpreter._get_ops_details``; where it is missing the
report says so instead of guessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DELEGATE = "DELEGATE"


def xnnpack_report(path: Path) -> dict[str, Any]:
    """``delegated_ops`` / ``not_delegated_ops`` (name -> count), ``delegate_subgraphs``, ``mid_graph_qdq``."""
    nodes, graph_inputs, graph_outputs = _nodes(path)
    if nodes is None:
        return {"xnnpack": "not checked: this LiteRT does not list the interpreter's nodes"}
    operators = [n for n in nodes if n["op_name"] != DELEGATE]
    delegated = _delegated(nodes)
    counts: dict[str, dict[str, int]] = {"delegated_ops": {}, "not_delegated_ops": {}}
    for node in operators:
        key = "delegated_ops" if node["index"] in delegated else "not_delegated_ops"
        counts[key][node["op_name"]] = counts[key].get(node["op_name"], 0) + 1
    return {
        "delegated_ops": dict(sorted(counts["delegated_ops"].items())),
        "not_delegated_ops": dict(sorted(counts["not_delegated_ops"].items())),
        "delegate_subgraphs": sum(1 for n in nodes if n["op_name"] == DELEGATE),
        "mid_graph_qdq": _mid_graph_qdq(operators, graph_inputs, graph_outputs),
        "flags": ["fallback_ops"] if counts["not_delegated_ops"] else [],
    }


def _nodes(path: Path) -> tuple[list[dict[str, Any]] | None, set[int], set[int]]:
    """The primary subgraph's nodes after LiteRT applied its default (XNNPACK) delegate."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()  # LiteRT applies its default delegate here, lazily
    if not hasattr(interpreter, "_get_ops_details"):
        return None, set(), set()
    inputs = {d["index"] for d in interpreter.get_input_details()}
    outputs = {d["index"] for d in interpreter.get_output_details()}
    return list(interpreter._get_ops_details()), inputs, outputs


def _delegated(nodes: list[dict[str, Any]]) -> set[int]:
    """Indices of the operators inside some delegate partition."""
    producer = {int(t): n for n in nodes if n["op_name"] != DELEGATE for t in n["outputs"]}
    inside: set[int] = set()
    for delegate in (n for n in nodes if n["op_name"] == DELEGATE):
        boundary = {int(t) for t in delegate["inputs"]}
        pending = [int(t) for t in delegate["outputs"]]
        while pending:
            node = producer.get(pending.pop())
            if node is None or node["index"] in inside:
                continue
            inside.add(node["index"])
            pending += [int(t) for t in node["inputs"] if t >= 0 and int(t) not in boundary]
    return inside


def _mid_graph_qdq(operators: list[dict[str, Any]], graph_inputs: set[int], graph_outputs: set[int]) -> int:
    """QUANTIZE ops not fed by a graph input and DEQUANTIZE ops of computed tensors not at a graph output.

    A dequantized constant (an FP16 or INT8 weight unpacked at load) is not counted: it
    costs nothing per inference.
    """
    produced = {int(t) for n in operators for t in n["outputs"]}
    count = 0
    for node in operators:
        source = int(node["inputs"][0])
        if node["op_name"] == "QUANTIZE" and source not in graph_inputs:
            count += 1
        elif node["op_name"] == "DEQUANTIZE" and source in produced and not {int(t) for t in node["outputs"]} & graph_outputs:
            count += 1
    return count
