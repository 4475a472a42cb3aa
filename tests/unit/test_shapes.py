"""One place per concept (issue 19, section 3): the helpers the tools share."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from accpy_core.lock import flocked


def test_flocked_makes_a_second_process_wait(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = (
        "import sys, time\nfrom pathlib import Path\nfrom accpy_core.lock import flocked\n"
        "with flocked(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(1.0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(lock)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    start = time.monotonic()
    with flocked(lock, "the test's lock"):
        waited = time.monotonic() - start
    assert proc.wait() == 0
    assert waited > 0.3
    with flocked(lock):  # free again, and re-entrant across blocks
        pass
