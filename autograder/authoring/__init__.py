"""The instructor's authoring jobs: ``exercises/`` from ``solutions/`` (``release``), validation-loss targets
(``calibrate``), and trusted notebooks run in-process and judged by the same ``Judge`` (``runner``)."""
