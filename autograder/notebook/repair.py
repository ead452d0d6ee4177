"""Repair a submission's structure so nbgrader sees it as the exercise it is.

:func:`repair` matches the submission's cells with the released exercise (by
nbgrader metadata, then cell id, then source, then the names an answer cell
defines), restores stripped or corrupted nbgrader metadata, turns duplicates
and unknown cells into plain cells, and puts deleted test and read-only cells
back where they belong. Without it nbgrader silently gives 0 to a notebook
whose metadata an editor removed. Every repair is a note in the student's
record. (nbgrader then restores the source of every locked cell anyway.)
"""
import ast
import copy

from autograder.assignments import nbgrader_meta, read_notebook, release_path


def _python(source):
    """Cell source as plain Python (IPython magics and ``!`` lines become ``get_ipython()`` calls)."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source



def released(assignment):
    """The notebook learners download (``exercises/``), or a fresh release when it is missing."""
    path = release_path(assignment)
    if path.is_file():
        return read_notebook(path)
    from autograder.authoring.release import generate
    return generate(assignment)


def _defines(source):
    """Top-level class and function names a cell defines (empty if it does not parse)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))} | {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}


def answer_names(assignment):
    """``{grade_id: names}`` of the answer cells of the exercise (what the tests call)."""
    return {nbgrader_meta(c)["grade_id"]: _defines(c.source) for c in released(assignment).cells
            if nbgrader_meta(c).get("solution")}


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


KEYS = ("grade", "solution", "locked", "points", "task")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")  # nbgrader's, found anywhere in a line


def repair(nb, assignment, reference=None):
    """Match ``nb``'s cells with the exercise and fix nbgrader's view of them.

    ``reference``: the released notebook to match against (default: :func:`released`); a course directory
    passes its own ``release/``, which holds any cell its source adds (a written answer, say).

    Returns ``(notebook, notes)``: a repaired copy and one sentence per repair.
    """
    nb = copy.deepcopy(nb)
    ref = reference if reference is not None else released(assignment)
    ref_cells = [c for c in ref.cells if nbgrader_meta(c).get("grade_id")]
    by_id = {nbgrader_meta(c)["grade_id"]: c for c in ref_cells}
    order = [nbgrader_meta(c)["grade_id"] for c in ref_cells]
    names = {gid: _defines(c.source) for gid, c in by_id.items() if nbgrader_meta(c).get("solution")}
    claimed = {}  # grade_id -> submission cell
    restored, corrupted, demoted, edited = [], [], [], []

    def claim(cell, gid):
        want = by_id[gid]
        meta, good = nbgrader_meta(cell), nbgrader_meta(want)
        if meta and any(meta.get(k) != good.get(k) for k in KEYS + ("grade_id",) if k in good):
            corrupted.append(gid)
        elif not meta:
            restored.append(gid)
        cell.metadata["nbgrader"] = copy.deepcopy(nbgrader_meta(want))
        claimed[gid] = cell
        if nbgrader_meta(want).get("locked") and _norm(cell.source) != _norm(want.source) and cell.source.strip():
            edited.append(gid)

    def free(gid, cell):
        return gid in by_id and gid not in claimed and by_id[gid].cell_type == cell.cell_type

    pending = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(meta, dict):
            cell.metadata.pop("nbgrader", None)
            meta = {}
        if isinstance(gid, str) and free(gid, cell):
            claim(cell, gid)
        else:
            pending.append(cell)
    for cell in pending:  # no usable metadata: by cell id, then the same source, then the names it defines
        gid = cell.get("id")
        if not (isinstance(gid, str) and free(gid, cell)):
            gid = next((g for g in order if free(g, cell) and nbgrader_meta(by_id[g]).get("locked")
                        and _norm(by_id[g].source) == _norm(cell.source)), None)
        if gid is None and cell.cell_type == "code":
            defined = _defines(cell.source)
            gid = next((g for g in order if free(g, cell) and names.get(g) and names[g] <= defined), None)
        if gid is not None:
            claim(cell, gid)
        elif nbgrader_meta(cell):
            demoted.append(nbgrader_meta(cell).get("grade_id", "?"))
            cell.metadata.pop("nbgrader", None)

    missing = [g for g in order if g not in claimed]
    for gid in missing:  # put it back after the nearest earlier cell of the exercise that is present
        earlier = [g for g in order[:order.index(gid)] if g in claimed]
        pos = nb.cells.index(claimed[earlier[-1]]) + 1 if earlier else 0
        cell = copy.deepcopy(by_id[gid])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if any(c.get("id") == cell.get("id") for c in nb.cells):
            cell.id = f"{gid}-restored"
        nb.cells.insert(pos, cell)
        claimed[gid] = cell

    defused = []  # nbgrader's hidden-test markers in a learner's cell would make feedback and formgrader fail
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if (meta.get("grade") and not meta.get("solution")) or not any(m in cell.source for m in HIDDEN_MARKERS):
            continue
        for m in HIDDEN_MARKERS:
            cell.source = cell.source.replace(m, m.replace(" ", "_"))
        defused.append(meta.get("grade_id") or f"cell {nb.cells.index(cell) + 1}")

    notes = []
    if defused:
        notes.append(f"your cell(s) {', '.join(defused)} held nbgrader's hidden-test markers; the grader "
                     "changed them (to BEGIN_HIDDEN_TESTS) so that they mark nothing")
    if restored:
        notes.append(f"nbgrader metadata was missing from {len(restored)} cell(s) ({', '.join(restored)}); "
                     "the grader matched them with the exercise by id or content and restored it")
    if corrupted:
        notes.append(f"nbgrader metadata was corrupted in {len(corrupted)} cell(s) ({', '.join(corrupted)}); "
                     "the grader restored it from the exercise")
    if demoted:
        notes.append(f"cell(s) with unknown or duplicated nbgrader ids ({', '.join(map(str, demoted))}) were "
                     "graded as ordinary code cells")
    lost_answers = [g for g in missing if nbgrader_meta(by_id[g]).get("solution")]
    lost_other = [g for g in missing if g not in lost_answers]
    if lost_other:
        notes.append(f"{len(lost_other)} deleted test or read-only cell(s) were restored from the exercise "
                     f"({', '.join(lost_other)})")
    if lost_answers:
        notes.append(f"your answer cell(s) {', '.join(lost_answers)} were not found (deleted, or the code was "
                     "renamed); the exercise's empty cell was put back, so their tests get no points: re-download "
                     "the exercise and paste your code into those cells")
    if edited:
        notes.append(f"read-only or test cell(s) were edited ({', '.join(edited)}); the grader ran the original")
    return nb, notes
