"""Messages a learner can act on (issue 16, item 4), the same from the learner's check and the grader.

- the course's own class imported where the exercise asks for the learner's (``from wavenet.nn import Tanh``):
  the learner's check stops before probing; in the grader's kernel the import fails (the course view has no
  Tanh in exercise 1), so the test cell raises NameError, and the grader reads the import from the notebook's
  own cells and says the same;
- a test failing from an earlier test's error says which (exercise 3's missing squeeze, every twin);
- the grader keeps an exception's text where it is plain words, also after hidden test code reached the kernel.
"""
import pytest
from nbformat.v4 import new_output

from autograder.assignments import nbgrader_meta
from autograder.notebook.judge import Judge
from autograder.authoring.runner import run_notebook
from mutants import all_mutants
from wavenet.checks import CheckFailed, check
from wavenet.checks.verdict import course_message, stop_message
from wavenet.nn import Tanh

MUTANTS = {(m.assignment, m.name): m for m in all_mutants()}


def test_the_learners_check_names_the_course_class():
    with pytest.raises(CheckFailed) as e:
        check("tanh", Tanh)
    assert str(e.value) == course_message("Tanh", "wavenet.nn")
    assert "from wavenet.nn import Tanh" in str(e.value) and "write Tanh yourself" in str(e.value)


def test_the_grader_names_the_course_class_when_the_import_failed_in_its_kernel():
    """The graded kernel's NameError (its course view has no Tanh): the grader's message is the learner's."""
    nb = MUTANTS[("01_layers", "course_tanh")].notebook()
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == "test_tanh":
            cell.outputs = [new_output("error", ename="NameError", evalue="name 'Tanh' is not defined",
                                       traceback=["NameError: name 'Tanh' is not defined"])]
    Judge(seed=7, assignment="01_layers").preprocess(nb, {})
    got = nb.metadata["autograder"]["tests"]["test_tanh"]
    assert not got["passed"] and got["message"] == course_message("Tanh", "wavenet.nn"), got


def test_a_name_error_without_a_course_import_keeps_its_wording():
    nb = MUTANTS[("01_layers", "course_tanh")].notebook()
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == "Tanh":
            cell.source = "# not written yet\n"
        if nbgrader_meta(cell).get("grade_id") == "test_tanh":
            cell.outputs = [new_output("error", ename="NameError", evalue="name 'Tanh' is not defined",
                                       traceback=[])]
    Judge(seed=7, assignment="01_layers").preprocess(nb, {})
    assert "did not run, or raised an error" in nb.metadata["autograder"]["tests"]["test_tanh"]["message"]


def test_exercise_3_names_the_first_test_a_missing_squeeze_failed():
    """Every test after the first that a missing squeeze fails says which (each checks FlattenConsecutive's values
    too, so the first is the first test of the notebook)."""
    m = MUTANTS[("03_flatten_consecutive", "fc_no_squeeze")]
    failed = [t for t in run_notebook(m.notebook(), m.assignment)["tests"] if t["passed"] is False]
    root = failed[0]
    assert "squeeze" in root["message"] or ", 1, " in root["message"], root
    assert "(the same error as" not in root["message"]
    for t in failed[1:]:
        assert f"(the same error as in {root['id']}: fix that first)" in t["message"], t


def test_the_grader_keeps_plain_exception_text_after_hidden_tests():
    reason = {"kind": "raised", "what": "Linear(5, 7) on a (9, 5) input", "type": "RuntimeError",
              "message": "mat1 and mat2 shapes cannot be multiplied (9x5 and 7x5)", "line": None}
    learner, _ = stop_message(reason)
    grader, _ = stop_message(reason, safe=True)
    assert "mat1 and mat2 shapes cannot be multiplied" in learner
    assert "mat1 and mat2 shapes cannot be multiplied (9 x 5 and 7 x 5)" in grader
    smuggled = dict(reason, message="BEGIN HIDDEN TESTS check linear_forward Linear")
    assert "HIDDEN" not in stop_message(smuggled, safe=True)[0]


def test_a_test_that_cannot_start_keeps_plain_exception_text_after_hidden_tests():
    """A test cell's own error after hidden test code reached the kernel: its text is kept when it is plain words."""
    from autograder.notebook.judge import without_record
    from nbformat.v4 import new_code_cell

    cell = new_code_cell('check("tanh", Tanh)')
    cell.outputs = [new_output("error", ename="TypeError", evalue="Tanh() takes no arguments", traceback=[])]
    assert without_record(cell, None, safe=True).message == "the test could not start: TypeError: Tanh() takes no arguments"
    cell.outputs = [new_output("error", ename="TypeError", evalue="BEGIN HIDDEN TESTS secret", traceback=[])]
    assert without_record(cell, None, safe=True).message == "the test could not start: TypeError"
