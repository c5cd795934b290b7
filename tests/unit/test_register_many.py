"""``modelmon reference register-many``: a fleet's references from one manifest, stored as the
same rows as registering each endpoint alone, and a bad line refused before anything is stored."""

from __future__ import annotations

import csv

import clickhouse_connect
import numpy as np
import pandas as pd
import pytest

from modelmon import store
from modelmon.cli import main
from modelmon.reference import register_reference

ENDPOINT_COLUMNS = "project, endpoint_id, function_uri, model, version, feature_names, label_column, " \
                   "training_rows, bins, possible_threshold, detected_threshold"
FEATURE_COLUMNS = "endpoint_id, feature_index, feature_name, count, invalid_count, mean, std, min, max, " \
                  "bin_edges, bin_counts"


def training_sets(folder) -> list[str]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"f{i}": rng.normal(i, 1 + i, 500) for i in range(4)} | {"label": rng.integers(0, 2, 500)})
    frame.to_csv(folder / "a.csv", index=False)
    (frame * 2).to_parquet(folder / "b.parquet")
    return ["a.csv", "b.parquet"]


def manifest_rows(count: int, files: list[str]) -> list[dict]:
    return [{"project": f"team{i % 3}", "function_uri": f"serving-{i}:latest", "model": f"model-{i}:v{i % 2}",
             "training_set": files[i % 2], "label_column": "label" if i % 2 else ""} for i in range(count)]


def write_manifest(path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def stored(dsn: str) -> tuple[list, list]:
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        return (client.query(f"SELECT {ENDPOINT_COLUMNS} FROM reference_endpoints ORDER BY endpoint_id").result_rows,
                client.query(f"SELECT {FEATURE_COLUMNS} FROM reference_features "
                             "ORDER BY endpoint_id, feature_index").result_rows)
    finally:
        client.close()


def test_a_manifest_registers_what_one_registration_per_endpoint_would(tmp_path, capsys):
    files = training_sets(tmp_path)
    rows = manifest_rows(40, files)
    write_manifest(tmp_path / "fleet.csv", rows)
    bulk = f"chdb://{tmp_path / 'bulk'}"
    assert main(["reference", "register-many", "--store", bulk, "--manifest", str(tmp_path / "fleet.csv"),
                 "--bins", "7"]) == 0
    assert "registered 40 reference(s)" in capsys.readouterr().out

    one_by_one = f"chdb://{tmp_path / 'one_by_one'}"
    client = store.open_store(one_by_one)
    try:
        for row in rows:
            register_reference(client, row["project"], row["function_uri"], row["model"],
                               tmp_path / row["training_set"], label_column=row["label_column"] or None, bins=7)
    finally:
        client.close()
    bulk_rows, one_rows = stored(bulk), stored(one_by_one)
    assert len(bulk_rows[0]) == 40 and len(bulk_rows[1]) == 40 * 4 + 20 * 1  # without a label column, the label is a feature
    assert bulk_rows == one_rows


def test_a_bad_line_is_named_and_nothing_is_stored(tmp_path, capsys):
    files = training_sets(tmp_path)
    rows = manifest_rows(5, files)
    rows[3]["training_set"] = "missing.csv"
    write_manifest(tmp_path / "fleet.csv", rows)
    dsn = f"chdb://{tmp_path / 'store'}"
    assert main(["reference", "register-many", "--store", dsn, "--manifest", str(tmp_path / "fleet.csv")]) == 2
    assert f"manifest {tmp_path / 'fleet.csv'} line 5:" in capsys.readouterr().err
    assert stored(dsn) == ([], [])

    rows[3]["training_set"], rows[1]["model"] = files[0], ""
    write_manifest(tmp_path / "fleet.csv", rows)
    assert main(["reference", "register-many", "--store", dsn, "--manifest", str(tmp_path / "fleet.csv")]) == 2
    assert f"manifest {tmp_path / 'fleet.csv'} line 3: model is empty" in capsys.readouterr().err


@pytest.mark.parametrize("header", ["project,function_uri,model", "project,function_uri,training_set"])
def test_a_manifest_without_a_needed_column_is_refused(tmp_path, capsys, header):
    (tmp_path / "fleet.csv").write_text(header + "\np,f,m\n")
    assert main(["reference", "register-many", "--store", f"chdb://{tmp_path / 'store'}",
                 "--manifest", str(tmp_path / "fleet.csv")]) == 2
    assert "has no column(s)" in capsys.readouterr().err


def test_a_manifest_s_categorical_column_makes_integer_codes_categories(tmp_path):
    rng = np.random.default_rng(5)
    pd.DataFrame({"plan": rng.choice([1, 2, 7], 300), "colour": rng.choice(["red", "blue"], 300),
                  "amount": rng.normal(0, 1, 300)}).to_parquet(tmp_path / "t.parquet")
    write_manifest(tmp_path / "fleet.csv", [
        {"project": "p", "function_uri": "f:latest", "model": "coded", "training_set": "t.parquet",
         "label_column": "", "categorical": "plan, colour"},
        {"project": "p", "function_uri": "f:latest", "model": "plain", "training_set": "t.parquet",
         "label_column": "", "categorical": ""}])
    dsn = f"chdb://{tmp_path / 'store'}"
    assert main(["reference", "register-many", "--store", dsn, "--manifest", str(tmp_path / "fleet.csv")]) == 0
    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        kinds = client.query("SELECT e.model, f.feature_name, f.feature_kind FROM reference_features AS f "
                             "INNER JOIN reference_endpoints AS e USING (endpoint_id, reference_id) "
                             "ORDER BY e.model, f.feature_index").result_rows
    finally:
        client.close()
    assert kinds == [("coded", "plan", "categorical_number"), ("coded", "colour", "categorical"),
                     ("coded", "amount", "numeric"), ("plain", "plan", "numeric"), ("plain", "colour", "categorical"),
                     ("plain", "amount", "numeric")]
