"""The course's reference code: the lecture's modules, models and training loop.

The book imports from here so every chapter shares one implementation. The
grader imports only ``wavenet.checks`` (probes, oracle, targets; its
validation-loss runs use ``wavenet.train.train``) and ``wavenet.cluster``, never
the reference layers and models of ``wavenet.nn`` and ``wavenet.models``: it
compares learners' code with ``torch`` itself.
"""
