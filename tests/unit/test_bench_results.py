"""The benchmarks' results files (benchmarks/_results.py) and the page docs/generate.py makes
from them: the figures on the page are the ones a benchmark wrote, dated and naming the machine."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BENCHMARKS = PROJECT / "benchmarks"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results() -> ModuleType:
    return load(BENCHMARKS / "_results.py")


def test_written_figures_are_the_page_figures(
    results: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate = load(PROJECT / "docs" / "generate.py")
    r = results.Results("bench_demo", "Demo against its anchor", "What it times.\n\nMore.")
    ratio = r.compare(
        "demo, median of 3", ("ours", [1.0, 3.0, 2.0]), ("anchor", [4.0, 5.0, 6.0]), goal=0.5
    )
    r.table("sizes", ["image", "size"], [["base", "12 MB"]])
    r.summary(f"ours takes {ratio:.2f}x the anchor")
    path = r.write(tmp_path / "benchmarks" / "results")
    assert path == tmp_path / "benchmarks" / "results" / "bench_demo.json"
    assert ratio == pytest.approx(0.4)

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["benchmark"] == "bench_demo"
    assert data["date"] == datetime.date.today().isoformat()
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["host"]
    assert data["tables"][0] == {
        "title": "demo, median of 3",
        "columns": ["", "median", "runs"],
        "rows": [
            ["ours", "2.00 s", "1.00, 3.00, 2.00"],
            ["anchor", "5.00 s", "4.00, 5.00, 6.00"],
            ["ratio", "0.40x", "goal <= 0.5x: met"],
        ],
    }
    assert data["figures"]["demo, median of 3"]["ratio"] == pytest.approx(0.4)

    monkeypatch.setattr(generate, "PROJECT", tmp_path)
    page = generate.benchmarks()
    assert "## Demo against its anchor" in page
    assert "What it times." in page
    assert f"*{data['date']}, {data['machine']['host']}" in page
    assert f"{data['machine']['cores']} CPUs; `benchmarks/bench_demo.py`.*" in page
    assert "| ours | 2.00 s | 1.00, 3.00, 2.00 |" in page
    assert "| ratio | 0.40x | goal <= 0.5x: met |" in page
    assert "| base | 12 MB |" in page
    assert "- ours takes 0.40x the anchor" in page
    assert "No figures yet" not in page


def test_no_results_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate = load(PROJECT / "docs" / "generate.py")
    monkeypatch.setattr(generate, "PROJECT", tmp_path)
    assert "No figures yet" in generate.benchmarks()


def test_a_row_must_fill_the_columns(results: ModuleType) -> None:
    r = results.Results("bench_demo", "Demo", None)
    with pytest.raises(ValueError, match="2 columns"):
        r.table("t", ["a", "b"], [["only one"]])


def test_helpers(results: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert results.median([3.0, 1.0, 2.0]) == 2.0
    assert results.ratio(1.0, 4.0) == 0.25
    assert results.ratio(1.0, 0.0) == float("inf")
    assert results.runs([0.0123, 0.02], 1, 1000) == "12.3, 20.0"
    assert results.verdict(True) == "met" and results.verdict(False) == "NOT met"
    assert results.clock(lambda: None, sync=True) >= 0
    capsys.readouterr()


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("bench_*.py")), ids=lambda p: p.stem)
def test_every_benchmark_writes_its_results_file(path: Path) -> None:
    """Each benchmark names its file after itself, describes itself by its docstring, takes
    --results and writes the file (a static check: running them takes minutes to hours)."""
    source = path.read_text(encoding="utf-8")
    assert re.search(rf'Results\(\s*"{path.stem}",\s*"[^"]+",\s*__doc__\s*\)', source), path
    assert "add_results_argument(parser)" in source
    assert ".write(args.results)" in source


def test_the_results_directory_is_kept(results: ModuleType) -> None:
    assert results.RESULTS == BENCHMARKS / "results"
    assert (BENCHMARKS / "results" / ".gitkeep").is_file()


def test_the_images_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_images needs buildah and builds the six images three times: its report, from
    made-up times and sizes."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = load(BENCHMARKS / "bench_images.py")
    mb = 2**20
    per = {"base": 300 * mb, "ci": 400 * mb, "dev": 500 * mb}
    results, met = bench.report([100.0, 90.0], [400.0, 380.0], per, 600 * mb)
    assert met  # 0.24x the time; 600 MB on disk is 1.2x the largest
    data = json.loads(results.write(tmp_path).read_text(encoding="utf-8"))
    timing, sizes = data["tables"]
    assert timing["rows"][2] == ["ratio", "0.24x", "goal <= 0.5x: met"]
    assert sizes["rows"][-2:] == [
        ["all six on disk", "600 MB", "1.20x"],
        ["six separate copies", "1200 MB", "2.40x"],
    ]
    _, met = bench.report([100.0], [150.0], per, 600 * mb)
    assert not met
