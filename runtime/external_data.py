"""Where an ONNX file's weights say their external data lives, read without the onnx package.

A tensor may keep its bytes in another file (``external_data`` entry ``location``). A hostile
file could point that at ``../../etc/passwd`` or an absolute path; recent onnxruntime releases
refuse such paths, older ones read them. ``check_external_data`` refuses them before any
session is made, whichever onnxruntime is installed.

The scan walks the protobuf wire format just deep enough: ModelProto.graph (field 7) ->
GraphProto.initializer (5) and sparse_initializer (15: SparseTensorProto values 1, indices 2)
-> TensorProto.external_data (13: StringStringEntryProto key 1, value 2). Other fields are
skipped by their length, so the walk costs little even for a large file.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgernn.runtime.errors import ModelFileError

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of one message: value is an int or a bytes slice (LEN)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _I64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == _I32:
            value, pos = data[pos:pos + 4], pos + 4
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("a length-delimited field runs past the end of its message")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _tensor_locations(tensor: bytes) -> list[str]:
    locations = []
    for number, wire, value in _fields(tensor):
        if number == 13 and wire == _LEN:  # external_data: StringStringEntryProto
            entry = {n: v for n, w, v in _fields(value) if w == _LEN}
            if entry.get(1) == b"location":
                locations.append(entry.get(2, b"").decode("utf-8", errors="replace"))
    return locations


def external_data_locations(model: bytes) -> list[str]:
    """Every external-data ``location`` of the graph's initializers. Raises ValueError for bytes
    that are not a well-formed protobuf message."""
    locations = []
    for number, wire, graph in _fields(model):
        if number != 7 or wire != _LEN:
            continue
        for field, kind, value in _fields(graph):
            if field == 5 and kind == _LEN:
                locations += _tensor_locations(value)
            elif field == 15 and kind == _LEN:  # SparseTensorProto: values (1) and indices (2) are tensors
                for part, part_kind, tensor in _fields(value):
                    if part in (1, 2) and part_kind == _LEN:
                        locations += _tensor_locations(tensor)
    return locations


def is_ort_format(model: bytes) -> bool:
    """An ORT-format file (a FlatBuffer with the identifier ``ORTM``), not an ONNX protobuf."""
    return model[4:8] == b"ORTM"


def required_operators(model: bytes) -> list[tuple[str, int, str]]:
    """The operators an ONNX file's graph runs, as (domain, opset version, op type), sorted: the
    domain "ai.onnx" for the default one, the version the file imports for that domain (the
    form of onnxruntime's reduced-build ``required_operators.config``). Nested graphs (If, Loop,
    Scan bodies) are included. Raises ValueError for bytes that are not an ONNX protobuf."""
    opsets: dict[str, int] = {}
    graphs: list[bytes] = []
    for number, wire, value in _fields(model):
        if number == 8 and wire == _LEN:  # opset_import: OperatorSetIdProto {domain 1, version 2}
            entry = {n: v for n, _, v in _fields(value)}
            opsets[entry.get(1, b"").decode() or "ai.onnx"] = int(entry.get(2, 0))
        elif number == 7 and wire == _LEN:
            graphs.append(value)
    if not graphs:
        raise ValueError("no graph: not an ONNX model")
    found: set[tuple[str, int, str]] = set()
    while graphs:
        for number, wire, node in _fields(graphs.pop()):
            if number != 1 or wire != _LEN:  # GraphProto.node: NodeProto {op_type 4, domain 7, attribute 5}
                continue
            fields = [(n, w, v) for n, w, v in _fields(node)]
            entry = {n: v for n, w, v in fields if w == _LEN and n in (4, 7)}
            domain = entry.get(7, b"").decode() or "ai.onnx"
            found.add((domain, opsets.get(domain, 1), entry.get(4, b"").decode()))
            for n, w, attribute in fields:  # AttributeProto.g (6) and .graphs (11): subgraphs
                if n == 5 and w == _LEN:
                    graphs += [v for k, kw, v in _fields(attribute) if k in (6, 11) and kw == _LEN]
    return sorted(found)


def check_external_data(path: Path, model: bytes) -> None:
    """Refuse a model whose external data would be read from outside its own folder (absolute
    paths, ``..``, symlinks that leave it) or from a file that is not there. An ORT-format file
    keeps its weights inside it."""
    if is_ort_format(model):
        return
    try:
        locations = external_data_locations(model)
    except ValueError:
        return  # not a protobuf at all: onnxruntime reports that, in its own words
    folder = os.path.realpath(path.parent)
    for location in dict.fromkeys(locations):
        if not location or os.path.isabs(location) or Path(location).drive:
            raise ModelFileError(f"{path}: refused: a weight's external data location {location!r} must be a "
                                 "relative path inside the model's folder")
        resolved = os.path.realpath(os.path.join(folder, location))
        if os.path.commonpath([folder, resolved]) != folder:
            raise ModelFileError(f"{path}: refused: a weight's external data location {location!r} points outside "
                                 f"the model's folder {folder}")
        if not os.path.isfile(resolved):
            raise ModelFileError(f"{path}: a weight's external data file {location!r} is missing beside the model")
