"""Hidden tests of ``FlattenConsecutive``: the grader's own draws of what the visible
``flatten_consecutive_order`` and ``hierarchical_levels`` check (probes and judges: :mod:`wavenet.checks.flatten`)."""
from autograder.judges import judge
from wavenet.checks.flatten import flatten_consecutive_order, hierarchical_levels

judge("flatten_consecutive_values")(flatten_consecutive_order)
judge("hierarchical_shapes")(hierarchical_levels)
