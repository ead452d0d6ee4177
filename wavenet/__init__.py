"""The course's reference code: the lecture's modules, models and training loop.

The book imports from here so every chapter shares one implementation; the
grader never does (it compares learners' code with ``torch`` itself).
"""
