"""Grades leaving the gradebook: Canvas's and Moodle's import files (``lms``), a Gradescope autograder zip
(``gradescope``) and what it runs for each submission (``gradescope_run``), the class report (``report``)."""
