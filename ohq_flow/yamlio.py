"""Bounded reading of the user's YAML files (config, board files).

A file is read only if it is a regular file no larger than a cap, decoded as UTF-8, and parsed
with the safe loader; a document whose aliases expand to more than :data:`MAX_YAML_NODES`
nodes (a "billion laughs" alias bomb) is refused before any Python object is built.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ohq_flow.errors import InputError

MAX_YAML_NODES = 200_000
"""Nodes a document may hold once every alias is expanded (a real config has a few hundred)."""


class YamlError(ValueError):
    """The text is not valid YAML or is too large once its aliases are expanded."""


def read_text_file(path: str | os.PathLike, what: str, *, max_bytes: int, missing_hint: str | None = None) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; InputError naming ``what`` otherwise."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist", missing_hint) from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory, not a file", missing_hint) from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{what} {path} is a directory, not a file", missing_hint)
        raise InputError(f"{what} {path} is not a regular file (a device, pipe or socket)")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{what} {path} is larger than {max_bytes:,} bytes", "is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})",
                         "save the file as UTF-8") from None


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes in the document with aliases expanded (counted, never built); stops past ``limit``."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) in memo:
            return memo[id(n)]
        memo[id(n)] = 1                      # a recursive alias counts once
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        memo[id(n)] = total
        return total

    return size(node)


def load_yaml(text: str, *, max_nodes: int = MAX_YAML_NODES) -> Any:
    """``yaml.safe_load`` that refuses documents expanding to more than ``max_nodes`` nodes."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:                # the reader checks the characters up front
        raise YamlError(str(exc)) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise YamlError(str(exc)) from None
        except RecursionError:
            raise YamlError("the document is nested too deeply") from None
        if node is None:
            return None
        try:
            n = _expanded_size(node, max_nodes)
        except RecursionError:
            raise YamlError("the document is nested too deeply") from None
        if n > max_nodes:
            raise YamlError(f"the document expands to more than {max_nodes:,} values through its aliases (&/*)"
                            " — an alias bomb?")
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise YamlError(str(exc)) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | os.PathLike, what: str, *, max_bytes: int, missing_hint: str | None = None) -> Any:
    """Read and parse a YAML file with the bounds above; InputError naming the file on any problem."""
    text = read_text_file(path, what, max_bytes=max_bytes, missing_hint=missing_hint)
    try:
        return load_yaml(text)
    except YamlError as exc:
        raise InputError(f"{what} {path} is not valid YAML: {exc}") from None
