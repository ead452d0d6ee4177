"""The plain-data format between a kernel and the grader: what it carries, and everything it refuses."""
import base64
import json

import pytest
import torch

from wavenet.checks import wire
from wavenet.checks.wire import Data, Malformed


def record(data):
    return {"v": 1, "test": "t", "data": data}


def test_round_trip_keeps_values_and_dtypes():
    """Tensors of every allowed dtype, nested lists and dicts, and non-finite floats come back equal."""
    data = {"f": torch.randn(3, 4), "d": torch.randn(2, dtype=torch.float64), "i": torch.arange(5),
            "b": torch.tensor([True, False]), "u": torch.tensor([1, 2], dtype=torch.uint8), "empty": torch.zeros(0, 3),
            "n": [1, 2.5, None, "x", float("nan"), float("inf")], "nested": {"a": [torch.ones(2)]}}
    back = wire.loads(wire.dumps(record(data)))["data"]
    for k in ("f", "d", "i", "b", "u", "empty"):
        assert back[k].dtype == data[k].dtype and torch.equal(back[k], data[k]), k
    assert back["n"][:4] == [1, 2.5, None, "x"] and back["n"][4] != back["n"][4] and back["n"][5] == float("inf")
    assert torch.equal(back["nested"]["a"][0], torch.ones(2))


def test_a_tensor_subclass_arrives_as_a_plain_tensor():
    """Whatever a kernel's tensor class does, the grader rebuilds a plain tensor from its bytes."""
    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True if func in (torch.equal, torch.allclose) else super().__torch_function__(func, types, args, kwargs)

    t = torch.randn(3).as_subclass(Liar)
    back = wire.loads(wire.dumps(record({"t": t})))["data"]["t"]
    assert type(back) is torch.Tensor and not torch.equal(back, torch.zeros(3))


def _tensor(dtype="float32", shape=(2,), raw=b"\0" * 8):
    return {"__tensor__": [dtype, list(shape), base64.b64encode(raw).decode()]}


@pytest.mark.parametrize("obj, why", [
    ({"v": 1, "test": "t"}, "either data or"),
    ({"v": 1, "test": "t", "data": {}, "stop": {}}, "either data or"),
    ({"v": 2, "test": "t", "data": {}}, "not a probe record"),
    ({"test": "t", "data": {}}, "not a probe record"),
    ([1, 2], "not a probe record"),
    (record({"t": _tensor("complex64")}), "unknown dtype"),
    (record({"t": _tensor(shape=(3,))}), "do not match its shape"),
    (record({"t": _tensor(shape=(-1,))}), "shape must be"),
    (record({"t": {"__tensor__": ["float32", [2], "@@@"]}}), "not valid base64"),
    (record({"t": _tensor(shape=(2000, 2000), raw=b"")}), "values (at most"),
    (record({"x": {"__float__": "1e999x"}}), "not a number"),
    (record({"x": "y" * 3000}), "characters"),
    (record({"x": list(range(600))}), "items"),
    (record({str(i): i for i in range(70)}), "keys"),
    (record(json.loads("[" * 12 + "]" * 12)), "nested too deeply"),
])
def test_malformed_records_are_refused(obj, why):
    """Each malformed record raises Malformed saying what is wrong; nothing else is accepted."""
    with pytest.raises(Malformed, match=why.replace("(", r"\(")):
        wire.loads(json.dumps(obj))


def test_oversized_and_non_json_text_is_refused():
    with pytest.raises(Malformed, match="bytes of data"):
        wire.loads(" " * (wire.MAX_BYTES + 1))
    with pytest.raises(Malformed, match="not JSON"):
        wire.loads("{nope")
    with pytest.raises(Malformed, match="bare NaN"):
        wire.loads('{"v": 1, "test": "t", "data": {"x": NaN}}')


def test_typed_getters_refuse_wrong_types():
    """A judge asking for a tensor, an int or a shape gets Malformed for anything else (bools are not ints)."""
    d = Data({"t": torch.ones(2), "i": 3, "b": True, "s": [1, 2], "bad": ["x"]})
    assert d.int("i") == 3 and d.shape("s") == (1, 2) and d.bool("b") is True
    for call in (lambda: d.tensor("i"), lambda: d.int("b"), lambda: d.int("missing"), lambda: d.shape("bad"),
                 lambda: d.tensors("s"), lambda: d.shapes("s"), lambda: d.sub("t")):
        with pytest.raises(Malformed):
            call()
