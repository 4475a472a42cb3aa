"""acc-py-usage: the collector of Acc-Py usage records, and the reports on them."""

__version__ = "0.1.0"
