"""One notebook's way through grading: nbgrader's pipeline with the course's steps (``pipeline``), the
submission's cells matched with the exercise (``repair``), sandboxed execution (``execute``, with the run's
seed and input from ``kernel_input`` and the course code it may import from ``course_view``), the verdicts
(``judge``), notes for a person (``notes``), the learner's feedback page (``feedback``), and one notebook run
in a scratch course (``grade``) or one submitted file to one record (``submission``)."""
