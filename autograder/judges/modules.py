"""Hidden test of exercise 2's modules: the grader's own draw of what the visible ``flatten_order`` checks
(probe and judge: :mod:`wavenet.checks.modules`)."""
from autograder.judges import judge
from wavenet.checks.modules import flatten_order

judge("flatten_values")(flatten_order)
