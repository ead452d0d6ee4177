"""A class at once: finding its students (``students``), ``grade-all`` (``batch``) on a Dask cluster (the
client's ``cluster``, the workers' ``workers``, what a machine is: ``version``), the course's gradebook
(``gradebook``), and the progress bar (``progress``)."""
