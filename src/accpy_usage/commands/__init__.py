"""One module per acc-py-usage verb, each with ``configure_parser()`` and ``execute()``."""
