"""One module per CLI verb, each with ``HELP``, ``configure_parser()`` and ``execute()``."""
