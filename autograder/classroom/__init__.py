"""A class at once: finding its students (``students``), ``grade-all`` (``batch``) on a Dask cluster (the
client's ``cluster``, the workers' ``workers``, what a machine is: ``version``), the course's gradebook
(``gradebook``), the progress bar (``progress``), and ``nbgrader collect`` from the exchange (``exchange``)."""
