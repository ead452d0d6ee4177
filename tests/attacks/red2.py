"""The second hostile review's notebook attacks (issue 18) on exercise 1, as notebooks: one home for what
``tests/test_attacks_red2.py`` grades with ``python -m autograder grade`` and ``tests/test_nbgrader_course.py``
grades with plain ``nbgrader autograde``.

- :func:`malformed`: a correct solution whose second cell sends kernel messages that each used to raise in the
  grader (a list for ``transient``, ``metadata`` or ``parent_header``, a string for ``execution_count`` or the
  date), then numbers its cells with a 300-digit count (hole 5: a count can carry text into the feedback). It
  must keep full marks, and no count it chose may reach the grader's notebook.
- :func:`attacks.structure.seed_only`: structure without values (hole 10). It must score 0.
"""
import re

from nbformat.v4 import new_code_cell

from attacks import LAYERS
from submissions import after, index, solved

MALFORMED = """
ip = get_ipython()
k = ip.kernel
ip.display_pub.publish(data={"text/plain": "transient is a list"}, metadata={}, transient=["x"])
ip.display_pub.publish(data={"text/plain": "metadata is a list"}, metadata=["x"])
k.session.send(k.iopub_socket, "execute_result", {"data": {"text/plain": "count"}, "metadata": {},
               "execution_count": "NaN"}, parent=k.get_parent())
msg = k.session.msg("display_data", {"data": {"text/plain": "orphan"}, "metadata": {}}, parent=k.get_parent())
msg["parent_header"] = [msg["parent_header"]]
k.session.send(k.iopub_socket, msg)
msg = k.session.msg("display_data", {"data": {"text/plain": "bad date"}, "metadata": {}}, parent=k.get_parent())
msg["header"]["date"] = "yesterday"
k.session.send(k.iopub_socket, msg)
k.session.send(k.iopub_socket, "stream", {"name": ["stdout"], "text": 7}, parent=k.get_parent())
ip.execution_count = 10 ** 300
"""
HUGE = re.compile(r"\d{25}")  # a count the kernel chose, in a page or a notebook's JSON


def malformed(assignment=LAYERS):
    """The solution with :data:`MALFORMED` after its setup cell and a result shown after the count is set."""
    nb = after(solved(assignment), "setup", MALFORMED)
    nb.cells.insert(index(nb, "setup") + 2, new_code_cell("6 * 7"))
    return nb
