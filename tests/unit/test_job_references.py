"""References for the job's Python functions: a local run at parallelism 1 keeps the snapshot
in the building process instead of pickling it into every function that holds it."""

from __future__ import annotations

import multiprocessing
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from modelmon import store
from modelmon.config import Config
from modelmon.pipelines.monitoring_job import prepare_store
from modelmon.pipelines.references import JobReferences, ReferenceCache
from modelmon.pipelines.store_access import StoreAccess
from modelmon.reference import register_reference


def _open_elsewhere(references: JobReferences) -> str:
    try:
        references.open()
    except RuntimeError as error:
        return str(error)
    return "opened"


@pytest.fixture
def references(tmp_path) -> JobReferences:
    dsn = f"chdb://{tmp_path / 'store'}"
    training = tmp_path / "train.parquet"
    pd.DataFrame({"a": np.arange(50.0), "b": np.ones(50)}).to_parquet(training)
    client = store.open_store(dsn)
    try:
        for model in ("m1", "m2"):
            register_reference(client, "tests", "serving:latest", model, training, bins=5)
    finally:
        client.close()
    snapshot, seen, _rules = prepare_store(Config(store=dsn))
    return JobReferences(StoreAccess(dsn, os.getpid(), functions_here=True), 60.0, snapshot, seen)


def test_a_kept_snapshot_stays_out_of_the_pickle_and_is_used_as_read(references):
    kept = references.kept()
    try:
        shipped = pickle.loads(pickle.dumps(kept))
        assert shipped.snapshot is None
        assert len(pickle.dumps(kept)) < len(pickle.dumps(references)) / 3
        cache = shipped.open()
        try:
            assert isinstance(cache, ReferenceCache)
            # the registrations are as they were when the snapshot was read: no reload, no copy
            assert cache.current() is references.snapshot
            assert sorted(r.feature_names for r in cache.current().values()) == [["a", "b"], ["a", "b"]]
        finally:
            cache.close()
    finally:
        kept.release()
    with pytest.raises(RuntimeError, match="kept in process"):
        kept.open()


def test_a_kept_snapshot_cannot_be_opened_by_another_process(references):
    kept = references.kept()
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            message = pool.apply(_open_elsewhere, (kept,))
        assert message.startswith(f"the job's references were kept in process {kept.access.builder_pid}, which built it")
    finally:
        kept.release()


def test_a_registration_after_the_snapshot_is_picked_up(references, tmp_path):
    cache = references.open()
    try:
        assert cache.current() is references.snapshot
        client = store.open_store(references.access.dsn)
        try:
            register_reference(client, "tests", "serving:latest", "m3", tmp_path / "train.parquet", bins=5)
        finally:
            client.close()
        cache.checked = -float("inf")  # as when refresh_seconds have passed
        assert len(cache.current()) == 3
    finally:
        cache.close()
