"""An nbgrader preprocessor that keeps test internals out of the feedback HTML.

nbgrader's ``generate_feedback`` renders the autograded notebook, whose test
cells hold the hidden tests again (autograde restores them). The feedback
converter here runs nbgrader's ``ClearHiddenTests`` and then this, which cuts
every error in a test cell down to one line, ``ename: evalue``: a full
traceback quotes the cell's source lines, hidden ones included.
"""
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class OneLineTestErrors(NbGraderPreprocessor):
    """Replace tracebacks in graded test cells by their last line."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
