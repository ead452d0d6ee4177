"""Grading for the course's nbgrader assignments.

``python -m autograder grade ASSIGNMENT NOTEBOOK [--json]`` grades one notebook
with nbgrader's autograde; ``validate``, ``release`` and ``calibrate`` are the
learner's check, the release of ``exercises/`` and the val-loss calibration.
Tests are probed in the kernel by :mod:`wavenet.checks` and judged here (:mod:`autograder.notebook.judge`).
"""
