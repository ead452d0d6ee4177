"""Grades leaving the gradebook: Canvas's and Moodle's import files (``lms``)."""
