"""The cache file name taken from a URL never leaves its cache entry."""

from __future__ import annotations

import pytest

from accpy_builder.download import file_name
from accpy_core.errors import SourceError


def test_file_name_is_the_percent_decoded_last_component() -> None:
    url = "https://mirror/20230726/cpython-3.11.4%2B20230726-x86_64-unknown-linux-gnu.tar.gz"
    assert file_name(url) == "cpython-3.11.4+20230726-x86_64-unknown-linux-gnu.tar.gz"


@pytest.mark.parametrize(
    "url", ["https://mirror/tag/..%2F..%2Fetc%2Fpasswd", "https://mirror/", "https://m/a%00b"]
)
def test_names_that_would_escape_the_cache_are_refused(url: str) -> None:
    with pytest.raises(SourceError, match="does not end in a file name"):
        file_name(url)
