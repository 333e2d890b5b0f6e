"""Machine-readable answers: every `--format json` prints one envelope
(schema_version, command, data) with numbers in base units, and `export` writes a
run's cases as one flat table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.record.envelope import SCHEMA_VERSION
from bench.shipped import DOCS_RUN, VARIANTS_RUN
from tests.conftest import FIXTURES, REFERENCE_H200

DOCS, VARIANTS = str(DOCS_RUN.path), str(VARIANTS_RUN.path)
COMMANDS = {
    "show": ["show", DOCS],
    "models": ["models"],
    "tables": ["tables", DOCS],
    "history": ["history", str(REFERENCE_H200.parent)],
    "compare": ["compare", str(REFERENCE_H200), DOCS],
    "fit": ["fit", DOCS, "--card", "RTX 3070"],
    "advise": ["advise", VARIANTS, "--card", "RTX 3070"],
    "project": ["project", DOCS, "--cards", "RTX 3070"],
    "docs verify": ["docs", "verify", DOCS, "--page", str(FIXTURES / "docs" / "overview.en.md"), "--spec",
                    "hybrid-inference"],
    "docs check": ["docs", "check", str(FIXTURES / "docs" / "overview.en.md")],
    "docs update": ["docs", "update", str(FIXTURES / "docs" / "overview.en.md"), DOCS, "--spec",
                    "hybrid-inference", "--diff"],
}  # fmt: skip


def _strings(value, path=""):
    """Every text value of a JSON document, with where it is."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_json_answer_is_one_envelope(capsys, command):
    code = main([*COMMANDS[command], "--format", "json"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    doc = json.loads(out)
    assert list(doc) == ["schema_version", "command", "data"]
    assert doc["schema_version"] == SCHEMA_VERSION and doc["command"] == command
    # no figure formatted into text: a percentage, a time or a size with its unit
    formatted = re.compile(r"^[+-]?\d+(\.\d+)?\s*(%|s|MiB|GiB|ms)$")
    assert not [(where, s) for where, s in _strings(doc["data"]) if formatted.match(s)]


def test_docs_update_and_import_json_say_what_they_did(capsys, tmp_path):
    page = FIXTURES / "docs" / "overview.en.md"
    before = page.read_bytes()
    code = main(
        ["docs", "update", str(page), DOCS, "--spec", "hybrid-inference", "--diff", "--format", "json"]
    )
    data = json.loads(capsys.readouterr().out)["data"]
    assert page.read_bytes() == before  # --diff writes nothing
    assert code == 1 and data["changed"] and data["written"] is False and data["diff"].startswith("---")
    assert main(["docs", "import", str(page), "--out", str(tmp_path / "imported"), "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)["data"]["runs"]
    assert len(runs) > 1 and all((Path(r) / "meta.json").is_file() for r in runs)


def test_plot_and_export_json_name_the_files_they_wrote(capsys, tmp_path):
    assert main(["plot", DOCS, "--out", str(tmp_path / "plots"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "plot" and doc["data"]["files"]
    assert all(Path(f).read_bytes()[:4] == b"\x89PNG" for f in doc["data"]["files"])
    assert main(["export", DOCS, "--csv", str(tmp_path / "c.csv"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["files"] == [str(tmp_path / "c.csv")] and data["rows"] == 32 and data["runs"] == 1


def test_fit_json_gives_bytes_and_ratios(capsys):
    main(["fit", DOCS, "--card", "RTX 3070", "--format", "json"])
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["card_bytes"] == pytest.approx(7967 * 2**20)
    assert data["headroom_bytes"] == pytest.approx(0.1 * data["card_bytes"])
    row = next(r for g in data["groups"] if g["group"] == "sd-v1 decode float16" for r in g["sizes"])
    assert row["untiled"]["need_bytes"] > 2**20 and "need_mib" not in row["untiled"]
    ratios = [r["tiling_time_ratio"] for g in data["groups"] for r in g["sizes"] if r["tiling_time_ratio"]]
    assert ratios and all(0.2 < r < 5 for r in ratios)


def test_the_fit_table_shows_the_figure_the_verdict_compares(capsys):
    """The table's MiB and the one-line verdict's are one figure: the allocated peak
    and the context, the headroom apart."""
    assert main(["fit", DOCS, "--card", "RTX 3070"]) == 0
    table = capsys.readouterr().out
    main(["fit", DOCS, "--card", "RTX 3070", "--model", "sd-v1", "--op", "decode", "--size", "1024"])
    need = re.search(r"needs (\d+) MiB", capsys.readouterr().out).group(1)
    block = table.split("sd-v1 decode float16")[1]
    row = next(line for line in block.splitlines() if line.startswith("1024x1024"))
    assert row.split()[1] == need


def test_export_csv_reads_back_with_pandas(tmp_path, capsys):
    out = tmp_path / "cases.csv"
    assert main(["export", DOCS, "--csv", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: 32 cases of 1 run(s), 64 columns\n"
    table = pd.read_csv(out)
    assert len(table) == 32 and set(table["run"]) == {DOCS_RUN.run_id}
    assert set(table["device_name"]) == {"NVIDIA H200"} and table["torch"].notna().all()
    assert table["mem.peak_reserved"].dtype.kind == "i" and (table["time_s.median"] > 0).all()
    samples = json.loads(table.loc[0, "time_s.samples"])
    assert isinstance(samples, list) and len(samples) == table.loc[0, "time_s.calls"]


def test_export_needs_a_destination_and_pyarrow_for_parquet(tmp_path, capsys):
    assert main(["export", DOCS]) == 2
    assert "--csv/--parquet: say where the table goes" in capsys.readouterr().err
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert main(["export", DOCS, "--parquet", str(tmp_path / "x.parquet")]) == 2
        assert "--parquet: needs pyarrow: pip install pyarrow" in capsys.readouterr().err
        assert not (tmp_path / "x.parquet").exists()
    else:
        assert main(["export", DOCS, "--parquet", str(tmp_path / "x.parquet")]) == 0
        assert len(pd.read_parquet(tmp_path / "x.parquet")) == 32


def test_the_pandas_api_of_the_readme():
    import bench

    run = bench.open_run(DOCS)
    df = run.frame()
    medians = df.groupby(["model", "op", "tiled"])["time_s.median"].median()
    assert len(df) == 32 and len(medians) == 8
    both = pd.concat(r.frame() for r in bench.open_runs([DOCS, str(REFERENCE_H200)]))
    assert len(both) == 64 and both["run"].nunique() == 2
    with pytest.raises(AttributeError):
        bench.no_such_thing  # noqa: B018


def test_tables_json_holds_the_cells_as_numbers(capsys):
    assert main(["tables", DOCS, "--spec", "hybrid-inference", "--format", "json"]) == 0
    blocks = json.loads(capsys.readouterr().out)["data"]
    assert [len(b["rows"]) for b in blocks] == [4, 4, 4, 4]
    cell = blocks[0]["rows"][0]["untiled"]
    assert cell["status"] == "ok" and 0 < cell["time_s"] < 1 and 0 < cell["memory_fraction"] < 1


def test_history_json_gives_memory_in_bytes(capsys, tmp_path):
    import shutil

    for run in (REFERENCE_H200, DOCS_RUN.path):
        shutil.copytree(run, tmp_path / run.name)
    assert main(["history", str(tmp_path), "--metric", "memory", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["unit"] == "bytes" and len(data["runs"]) == 2
    values = [v for c in data["cases"] for v in c["values"] if v is not None]
    assert values and min(values) > 2**20
