"""Hidden tests of ``Linear`` and ``BatchNorm1d``: the grader's own draws of the concepts the visible tests
``linear_values``, ``batchnorm_train_values``, ``batchnorm_running_update``, ``batchnorm_eval_values`` and
``batchnorm_2d_after_3d`` check on the learner's seed (probes and judges: :mod:`wavenet.checks.layers`)."""
from autograder.judges import judge
from wavenet.checks import layers

judge("linear_forward")(layers.linear_values)
judge("batchnorm_train_output")(layers.train_output)
judge("batchnorm_running_stats")(layers.running_stats_judge)
judge("batchnorm_eval")(layers.bn_eval_values)
judge("batchnorm_2d_still_works")(layers.bn_2d_after_3d)
