"""The data dictionary covers every table and column and is up to date with the catalog."""
from __future__ import annotations

from sendopt import dictionary
from sendopt.catalog import CATALOG


def test_dictionary_names_every_table_column_and_key():
    text = dictionary.render()
    for spec in CATALOG:
        assert f"### `{spec.full_name}`" in text
        for c in spec.columns:
            assert f"| `{c.name}`" in text


def test_docs_data_dictionary_is_current():
    assert dictionary.main(["--check"]) == 0, "run `python -m sendopt.dictionary` and commit the docs"
