"""nbgrader's configuration for this course: `nbgrader <command>` run in this folder grades with the course's
judge (the sandboxed pipeline of autograder/notebook/pipeline.py). Add your own settings below the call, for example:

    c.CourseDirectory.course_id = "wavenet-fall-2026"        # the exchange's course id
    c.Exchange.root = "/srv/nbgrader/exchange"               # nbgrader's default
    c.LateSubmissionPlugin.penalty_method = "zero"           # late work scores 0 (default: no penalty)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the course's code, whatever the environment
from autograder.course import configure  # noqa: E402

c = get_config()  # noqa: F821  (given by nbgrader when it reads this file)
configure(c)
