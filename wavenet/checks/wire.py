"""The plain data a probe hands back: JSON values, with tensors as raw bytes.

A probe runs inside the learner's kernel, which the learner's code controls
entirely, so what comes out of it is treated as untrusted input by the grader:

- :func:`encode` (kernel side) turns a probe's result into JSON: ``None``,
  bools, ints, floats, short strings, lists, dicts with string keys, and
  tensors as ``{"__tensor__": [dtype, shape, base64 bytes]}``;
- :func:`decode` (grader side) rebuilds it and refuses anything else: unknown
  types or dtypes, more than :data:`MAX_BYTES` of JSON, deep nesting, long
  strings or lists, tensors whose bytes do not match their shape. Tensors are
  rebuilt from bytes with ``torch.frombuffer``: no pickle, no subclass, no
  code of the kernel's ever runs in the grader.

:class:`Data` wraps a decoded dict with typed getters; a missing key or a
wrong type raises :class:`Malformed`, which fails the test with a reason.
"""
import base64
import json
import math

import torch

MIME = "application/vnd.wavenet.probe.v1+json"  # the display type a probe's record travels under
VERSION = 1
MAX_BYTES = 4_000_000   # JSON text of one record (a val-loss probe's logits take about 0.5 MB)
MAX_DEPTH = 8
MAX_ITEMS = 512         # per list
MAX_KEYS = 64           # per dict
MAX_STR = 2_000
MAX_NUMEL = 1_000_000   # per tensor
DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32,
          "uint8": torch.uint8, "bool": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


class Malformed(ValueError):
    """Data that is not what the format (or the test) allows."""


# ---------------------------------------------------------------- kernel side

def _tensor(t):
    t = t.detach().cpu()
    if t.dtype not in NAMES:
        t = t.to(torch.float32 if t.is_floating_point() else torch.int64)
    t = torch.Tensor.contiguous(torch.Tensor.as_subclass(t, torch.Tensor))
    raw = t.numpy().tobytes() if t.numel() else b""
    return {"__tensor__": [NAMES[t.dtype], list(t.shape), base64.b64encode(raw).decode("ascii")]}


def encode(value):
    """``value`` as plain JSON (see the module docstring); floats that are not finite become strings."""
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": str(value)}
    if isinstance(value, str):
        return value[:MAX_STR]
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise TypeError(f"a probe cannot return {type(value).__name__}")


def dumps(record):
    """One record as JSON text (what :func:`decode` reads back after ``json.loads``)."""
    return json.dumps(encode(record), allow_nan=False)


# ---------------------------------------------------------------- grader side

def _decode_tensor(spec):
    if not (isinstance(spec, list) and len(spec) == 3):
        raise Malformed("a tensor must be [dtype, shape, bytes]")
    dtype, shape, b64 = spec
    if dtype not in DTYPES:
        raise Malformed(f"a tensor of unknown dtype {str(dtype)[:20]!r}")
    if not (isinstance(shape, list) and len(shape) <= 8 and
            all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_NUMEL for n in shape)):
        raise Malformed("a tensor's shape must be a list of at most 8 sizes")
    numel = math.prod(shape)
    if numel > MAX_NUMEL:
        raise Malformed(f"a tensor of {numel} values (at most {MAX_NUMEL})")
    if not isinstance(b64, str):
        raise Malformed("a tensor's bytes must be base64 text")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        raise Malformed("a tensor's bytes are not valid base64") from None
    dt = DTYPES[dtype]
    if len(raw) != numel * torch.empty((), dtype=dt).element_size():
        raise Malformed(f"a tensor's bytes do not match its shape {tuple(shape)} and dtype {dtype}")
    if numel == 0:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(bytearray(raw), dtype=dt).reshape(shape).clone()


def _decode(obj, depth):
    if depth > MAX_DEPTH:
        raise Malformed("nested too deeply")
    if obj is None or isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, str):
        if len(obj) > MAX_STR:
            raise Malformed(f"a string of {len(obj)} characters")
        return obj
    if isinstance(obj, list):
        if len(obj) > MAX_ITEMS:
            raise Malformed(f"a list of {len(obj)} items")
        return [_decode(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return _decode_tensor(obj["__tensor__"])
        if set(obj) == {"__float__"}:
            if obj["__float__"] not in ("nan", "inf", "-inf"):
                raise Malformed("a float that is not a number")
            return float(obj["__float__"])
        if len(obj) > MAX_KEYS:
            raise Malformed(f"a dict of {len(obj)} keys")
        return {k: _decode(v, depth + 1) for k, v in obj.items()}
    raise Malformed(f"a value of type {type(obj).__name__}")


def loads(text):
    """Parse and decode one record's JSON text; :class:`Malformed` if it is not a valid record."""
    if not isinstance(text, str):
        text = json.dumps(text)  # Jupyter already parsed the display data: re-check it the same way
    if len(text) > MAX_BYTES:
        raise Malformed(f"{len(text):,} bytes of data (at most {MAX_BYTES:,})")
    try:
        obj = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(Malformed(f"bare {c}")))
    except json.JSONDecodeError as e:
        raise Malformed(f"not JSON ({e.msg})") from None
    record = _decode(obj, 0)
    if not isinstance(record, dict) or record.get("v") != VERSION or not isinstance(record.get("test"), str):
        raise Malformed("not a probe record (no version or test name)")
    if ("data" in record) == ("stop" in record):
        raise Malformed("a record holds either data or the reason the probe stopped")
    return record


def finite(value):
    """Whether decoded data holds no NaN and no infinity, in any float or tensor however deep.

    No correct result of any test is NaN or infinite, and a NaN compares False with everything, so a judge's
    ``if abs(x - want) > tol: fail(...)`` lets it through: :func:`wavenet.checks.verdict.verdict` asks this
    of every record a judge passed.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return False
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


class Data:
    """A probe's decoded data with typed getters that raise :class:`Malformed`."""

    def __init__(self, d, where="data"):
        if not isinstance(d, dict):
            raise Malformed(f"{where} is not a dict")
        self.d, self.where = d, where

    def _get(self, key, types, what):
        if key not in self.d:
            raise Malformed(f"{self.where} has no {key!r}")
        v = self.d[key]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            raise Malformed(f"{self.where}[{key!r}] is not {what}")
        return v

    def __contains__(self, key):
        return key in self.d

    def tensor(self, key):
        return self._get(key, (torch.Tensor,), "a tensor")

    def tensors(self, key, n=None):
        items = self._get(key, (list,), "a list")
        if n is not None and len(items) != n:
            raise Malformed(f"{self.where}[{key!r}] has {len(items)} items, not {n}")
        if not all(isinstance(t, torch.Tensor) for t in items):
            raise Malformed(f"{self.where}[{key!r}] holds something that is not a tensor")
        return items

    def int(self, key):
        return self._get(key, (int,), "an int")

    def float(self, key):
        v = self._get(key, (int, float), "a number")
        return float(v)

    def bool(self, key):
        return self._get(key, (bool,), "a bool")

    def str(self, key):
        return self._get(key, (str,), "a string")

    def list(self, key, n=None):
        items = self._get(key, (list,), "a list")
        if n is not None and len(items) != n:
            raise Malformed(f"{self.where}[{key!r}] has {len(items)} items, not {n}")
        return items

    def shape(self, key):
        v = self._get(key, (list,), "a shape")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in v):
            raise Malformed(f"{self.where}[{key!r}] is not a shape")
        return tuple(v)

    def shapes(self, key, n=None):
        """A list of shapes (each a list of sizes), as tuples."""
        items = self.list(key, n)
        for v in items:
            if not (isinstance(v, list) and len(v) <= 8 and all(isinstance(k, int) and not isinstance(k, bool)
                                                                for k in v)):
                raise Malformed(f"{self.where}[{key!r}] holds something that is not a shape")
        return [tuple(v) for v in items]

    def sub(self, key):
        return Data(self._get(key, (dict,), "a dict"), f"{self.where}[{key!r}]")

    def subs(self, key, n=None):
        return [Data(v, f"{self.where}[{key!r}][{i}]") for i, v in enumerate(self.list(key, n))]
