"""The docs say what the code does: generated pages are current, every setting and table is
documented, every path and link they name exists, and README stays short."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from benchmarks import report
from modelmon.config import Config
from modelmon.pipelines.store_sink import ARROW_TABLES, ROW_TABLES
from modelmon.sql import schema_markdown, schema_objects

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the repository's own paths, as the docs name them in backticks
PATH = re.compile(r"`((?:udfs|pipelines|api|sql|modelmon|benchmarks|tests|docker|docs)/[\w./-]*\w)`")


def test_readme_is_short_and_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    assert "make demo" in readme and "make test" in readme


def test_the_schema_page_is_generated_from_the_ddl():
    assert (ROOT / "docs" / "schema.md").read_text() == schema_markdown(), \
        "run: python -m modelmon.sql > docs/schema.md"


def test_the_benchmark_page_is_the_latest_results():
    assert report.PAGE.read_text() == report.current_page(), "run: python -m benchmarks.report"


def test_every_setting_is_documented_and_every_documented_setting_exists():
    page = (ROOT / "docs" / "configuration.md").read_text()
    settings = page[page.index("## Settings"):]
    documented = {name for row in re.findall(r"^\| ([^|]+) \|", settings, re.M) for name in re.findall(r"`(\w+)`", row)}
    assert documented == {f.name for f in fields(Config)}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_path_and_link_a_page_names_exists(page):
    text = page.read_text()
    missing = [path for path in PATH.findall(text) if not (ROOT / path).exists()]
    missing += [link for link in re.findall(r"\]\(([^)#:]+)\)", text) if not (page.parent / link).exists()]
    assert not missing


def test_the_writer_inserts_exactly_the_columns_the_ddl_declares():
    """Every column but those the store fills itself (DEFAULT now64), in the writer's lists."""
    declared = {obj.name: [name for name, kind in obj.columns if name not in ("written_at", "received_at")]
                for obj in schema_objects() if obj.kind == "table"}
    written = {**{table: list(columns) for table, columns in ROW_TABLES.items()},
               **{table: schema.names for table, schema in ARROW_TABLES.items()}}
    assert {table: sorted(columns) for table, columns in written.items()} == \
        {table: sorted(declared[table]) for table in written}
