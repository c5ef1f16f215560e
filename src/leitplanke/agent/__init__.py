"""The cluster agent: a live audit of every object of one cluster, written back as PolicyReports.

A layer of its own beside the CLI and the service (``leitplanke agent`` starts it): ``discovering``
the served types, ``watching`` each (list, then watch), ``processing`` the changes (``assessing``
them with the shared engine, ``evaluating`` in a child process that is replaced now and then),
``reporting`` PolicyReports and ``uploading`` findings to the service.
"""
