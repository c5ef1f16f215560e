"""Sources: anything → Document. Files, stdin, Kustomize and Helm today (``files`` is the entry).

Called by the CLI (and later the service); imports only ``core``. Bad input comes back as
``Problem`` values next to the documents that could be read, never as an exception.
"""
