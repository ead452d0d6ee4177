"""A submitted notebook's bytes checked for nesting depth and number of values before any parser reads them.

``json.loads`` turns each ``[]`` (two bytes) into a list object of 56 bytes, and nbformat then copies and
validates every one: a notebook of 8.6 MB holding 3 million empty lists in one cell's metadata cost the
grader 2 GB and 69 s before a single cell ran. :func:`check` counts the containers and values and measures
the nesting in the bytes themselves, at the speed of ``bytes`` methods, and refuses what no notebook of
this course comes near, saying which bound it passed: an honest notebook of this course holds a few
thousand values nested at most about 10 deep.
"""
import json
import re
from itertools import accumulate

MAX_DEPTH = 64            # lists and objects inside each other (an honest notebook: about 10)
MAX_VALUES = 200_000      # strings, numbers, lists and objects (an honest notebook: about 500; 200,000 cost 0.7 s)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string, escapes included
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # an opening bracket +1, a closing one -1 (minus 1)


class TooComplex(ValueError):
    """The bytes nest deeper or hold more values than :data:`MAX_DEPTH` / :data:`MAX_VALUES` allow."""


def check(data, what="it", max_depth=MAX_DEPTH, max_values=MAX_VALUES):
    """Raise :class:`TooComplex` (naming ``what`` and the bound) if the JSON text ``data`` (bytes) nests deeper
    than ``max_depth`` or holds more than ``max_values`` values.

    Strings are blanked first, so brackets and commas inside them do not count; malformed JSON is left for
    the parser to refuse. Memory: two copies of ``data`` at most; no object per value. Bytes whose brackets
    and commas, strings' included, are too few to pass either bound are not scanned further: a kernel
    message's part costs three ``count`` calls, unless it holds many.
    """
    brackets = data.count(b"[") + data.count(b"{")
    if brackets <= max_depth and brackets + data.count(b",") < max_values:
        return
    bare = _STRING.sub(b'""', data).translate(None, b" \t\r\n")
    containers = bare.count(b"[") + bare.count(b"{")
    values = bare.count(b",") + containers - bare.count(b"[]") - bare.count(b"{}") + 1  # each element once
    if containers > max_values or values > max_values:
        raise TooComplex(f"{what} holds more than {max_values:,} JSON values ({values:,})")
    brackets = bare.translate(None, _NOT_BRACKETS).translate(_DEPTH_STEP)
    depth = max(accumulate(b - 1 for b in brackets), default=0)
    if depth > max_depth:
        raise TooComplex(f"{what} nests JSON {depth} levels deep (more than {max_depth})")


def loads(data):
    """``json.loads`` of bytes (or text) that :func:`check` passed: jupyter_client's ``Session.unpack`` for a
    kernel's messages, whose every part the grader would otherwise parse unbounded."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    check(data, "the kernel sent a message that")
    return json.loads(data.decode("utf-8", "replace"))
