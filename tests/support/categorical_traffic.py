"""Traffic with numeric and categorical features whose category mix shifts halfway for one
endpoint, with every kind of bad value in it, and the independent count of what the job must
store: plain Python over the JSON lines, by DESIGN.md's rules, sharing no code with the job."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from modelmon import alert_rules, store
from modelmon.cli import main as cli_main
from modelmon.config import Config
from modelmon.pipelines.monitoring_job import run_monitoring_job
from modelmon.tracker import format_when, write_segment
from modelmon.udfs.alerts import make_rule
from modelmon.udfs.contract import endpoint_id

# Feature order of the model's input rows, and each one's kind in the reference.
FEATURES = ["amount", "colour", "member", "plan", "score"]
KINDS = {"amount": "numeric", "colour": "categorical", "member": "categorical", "plan": "categorical_number",
         "score": "numeric"}
COLOURS = ["red", "green", "blue", "yellow", "black"]
TRAINING_COLOUR_SHARE = [0.4, 0.3, 0.15, 0.1, 0.05]
SHIFTED_COLOUR_SHARE = [0.0, 0.0, 0.05, 0.25, 0.7]
PLANS = [1, 2, 3, 7]
MODELS = ("steady", "shifting")
MAX_CATEGORIES = 5  # registered with --max-categories 5: colour's sixth, rare, category is __other__
FUNCTION_URI = "shop/serving:v1"
# The last drift status of each feature whose mix shifts for the "shifting" endpoint (a boolean
# from 30 % to 95 % true measures about 0.59: no two-bin shift reaches 0.7); the others' is NO_DRIFT.
SHIFTED = {"colour": "DRIFT_DETECTED", "member": "POSSIBLE_DRIFT"}
# Data-quality rules on every endpoint, near the median of the traffic's per-window rates, so
# that each opens and closes many times.
QUALITY_RULES = {"invalid_rate_above": 0.02, "missing_rate_above": 0.015, "out_of_range_rate_above": 0.01}
WINDOW_MS = 300_000
RANGE_MS = 3_600_000
BINS = 20


def training_set(seed: int = 5) -> pd.DataFrame:
    """Training rows: colour (strings, some null, a rare sixth colour past MAX_CATEGORIES),
    member (booleans, some null), plan (integer codes, registered with --categorical), amount and
    score (numbers). Every categorical bin but plan's __other__ and __missing__ has training
    values, so the chi-square p-values of steady traffic are not all 0."""
    rng = np.random.default_rng(seed)
    n = 20_000
    colour = rng.choice(COLOURS + ["white"], n, p=TRAINING_COLOUR_SHARE[:-1] + [0.04, 0.01]).astype(object)
    colour[rng.random(n) < 0.02] = None
    member = (rng.random(n) < 0.3).astype(object)
    member[rng.random(n) < 0.01] = None
    return pd.DataFrame({
        "amount": rng.gamma(2.0, 50.0, n), "colour": colour, "member": member,
        "plan": rng.choice(PLANS, n, p=[0.5, 0.3, 0.15, 0.05]), "score": rng.normal(0.0, 1.0, n),
        "label": rng.integers(0, 2, n)})


def _row(rng: np.random.Generator, shifted: bool) -> list:
    share = SHIFTED_COLOUR_SHARE if shifted else TRAINING_COLOUR_SHARE
    return [round(float(rng.gamma(2.0, 50.0)), 3), str(rng.choice(COLOURS, p=share)),
            bool(rng.random() < (0.95 if shifted else 0.3)), int(rng.choice(PLANS, p=[0.5, 0.3, 0.15, 0.05])),
            round(float(rng.normal()), 4)]


# Bad values put in rows now and then: (feature index, value). NaN goes out as JSON's NaN
# literal, which only the exact parser reads; the rest the Java reader takes.
BAD_VALUES = [(1, None), (0, None), (1, 12), (0, "12.5"), (4, float("nan")), (4, float("inf")), (0, 1e9),
              (0, -5.0), (1, "purple"), (1, ""), (2, None), (1, "yes"), (3, 9), (3, "gold"), (3, 2.0), (1, True),
              (2, 1), (4, [1, 2]), (1, {"x": 1})]


def traffic(start: datetime, shift_at: datetime, hours: float, every_seconds: int = 3) -> list[str]:
    """A line every ``every_seconds`` per endpoint, 1-3 rows each; bad values, short rows and
    error events among them."""
    rng = np.random.default_rng(8)
    lines = []
    for step in range(int(hours * 3600 / every_seconds)):
        for model in MODELS:
            when = start + timedelta(seconds=every_seconds * step, milliseconds=int(rng.integers(0, 1000)))
            shifted = model == "shifting" and when >= shift_at
            rows = [_row(rng, shifted) for _ in range(int(rng.integers(1, 4)))]
            if step % 7 == 0:
                j, value = BAD_VALUES[step // 7 % len(BAD_VALUES)]
                rows[0][j] = value
            if step % 53 == 0:
                rows[-1] = rows[-1][:2]  # absent values: missing
            event = {"model": model, "function_uri": FUNCTION_URI, "class": "Test", "when": format_when(when),
                     "request": {"inputs": rows}}
            if step % 41 == 0:
                event["error"] = "boom"  # no prediction: its inputs are not counted
            else:
                event.update(resp={"outputs": [0] * len(rows)}, microsec=1000)
            lines.append(json.dumps(event))
    return lines


def write_spool(root: Path, lines: list[str]) -> Path:
    for segment in range(3):
        write_segment(root / "spool", lines[segment::3], segment)
    return root / "spool"


class ExpectedFeature:
    """One feature's counts in one window, as DESIGN.md "Categorical features and data quality" says."""

    def __init__(self, bins: int):
        self.bins = [0] * bins
        self.count = self.invalid = self.missing = self.mismatched = self.nonfinite = 0
        self.numbers: list[float] = []


def expected_windows(lines: list[str], references: dict[str, dict]) -> dict[tuple[str, int, int], ExpectedFeature]:
    """(endpoint id, feature index, window start ms) -> the counts the job must store.
    ``references`` maps an endpoint id to {"model", "edges": {name: edges}, "categories": {name: [...]}}."""
    by_model = {ref["model"]: (endpoint, ref) for endpoint, ref in references.items()}
    windows: dict[tuple[str, int, int], ExpectedFeature] = {}
    for text in lines:
        event = json.loads(text)
        if "error" in event:
            continue
        endpoint, ref = by_model[event["model"]]
        when = datetime.fromisoformat(event["when"])
        time_ms = round(when.timestamp() * 1000)
        start = time_ms - time_ms % WINDOW_MS
        for row in event["request"]["inputs"]:
            for j, name in enumerate(FEATURES):
                kind = KINDS[name]
                bins = len(ref["edges"][name]) + 1 if kind == "numeric" else len(ref["categories"][name]) + 2
                cell = windows.setdefault((endpoint, j, start), ExpectedFeature(bins))
                count_value(cell, row[j] if j < len(row) else None, kind, ref["edges"].get(name),
                            ref["categories"].get(name))
    return windows


def count_value(cell: ExpectedFeature, value, kind: str, edges, categories) -> None:
    is_number = type(value) in (int, float)
    if value is None:
        cell.missing += 1
        if kind == "numeric":
            cell.invalid += 1
        else:
            cell.bins[-1] += 1
            cell.count += 1
        return
    if is_number and not math.isfinite(value):
        cell.nonfinite += 1
        cell.invalid += 1
        return
    if kind == "numeric":
        if not is_number:
            cell.mismatched += 1
            cell.invalid += 1
            return
        cell.count += 1
        cell.numbers.append(float(value))
        if value < edges[0]:
            cell.bins[0] += 1
        elif value > edges[-1]:
            cell.bins[-1] += 1
        else:
            inner = min(int(np.searchsorted(edges, value, side="right")) - 1, len(edges) - 2)
            cell.bins[1 + inner] += 1
        return
    if kind == "categorical_number":
        ok = is_number
        text = None
        if ok:
            matches = [k for k, c in enumerate(categories) if float(c) == float(value)]
            text = matches[0] if matches else None
    else:
        ok = isinstance(value, (str, bool))
        text = None
        if ok:
            label = ("true" if value else "false") if isinstance(value, bool) else value
            text = categories.index(label) if label in categories else None
    if not ok:
        cell.mismatched += 1
        cell.invalid += 1
        return
    cell.count += 1
    cell.bins[len(categories) if text is None else text] += 1


def training_categories(frame: pd.DataFrame, name: str, limit: int = MAX_CATEGORIES) -> tuple[list[str], list[int]]:
    """The reference's categories and bin counts, counted here with a Counter."""
    values = frame[name].tolist()
    texts = Counter(("true" if v else "false") if isinstance(v, (bool, np.bool_)) else str(v)
                    for v in values if v is not None and v == v)
    ranked = sorted(texts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:limit]
    nulls = sum(1 for v in values if v is None or v != v)
    return [c for c, _ in kept], [n for _, n in kept] + [sum(n for _, n in ranked[limit:]), nulls]


def run_categorical_job(root: Path) -> dict:
    """References registered from the training set (``--categorical plan``), the data-quality
    rules, two hours of traffic shifting after the first, one bounded run; what the tests need,
    with the independent counts."""
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    lines = traffic(start, start + timedelta(hours=1), hours=2)
    spool = write_spool(root, lines)
    dsn = f"chdb://{root / 'store'}"
    frame = training_set()
    frame.to_parquet(root / "training.parquet")
    client = store.open_store(dsn)
    try:
        for kind, threshold in QUALITY_RULES.items():
            alert_rules.save_rule(client, make_rule({"project": "shop", "name": kind, "kind": kind,
                                                     "threshold": threshold, "cooldown_seconds": 0}))
    finally:
        client.close()
    references = {}
    for model in MODELS:
        assert cli_main(["reference", "register", "--store", dsn, "--project", "shop", "--function-uri", "serving:v1",
                         "--model", model, "--training-set", str(root / "training.parquet"), "--label-column", "label",
                         "--categorical", "plan", "--max-categories", str(MAX_CATEGORIES)]) == 0
        categories = {name: training_categories(frame, name) for name, kind in KINDS.items() if kind != "numeric"}
        references[endpoint_id("shop", "serving", "v1", "", model, "")] = {
            "model": model, "categories": {n: c for n, (c, _) in categories.items()},
            "counts": {n: counts for n, (_, counts) in categories.items()},
            "edges": {name: np.histogram_bin_edges(frame[name], bins=BINS) for name, kind in KINDS.items()
                      if kind == "numeric"}}
    config = Config(store=dsn, source=str(spool))
    run_monitoring_job(config, bounded=True)
    return {"config": config, "references": references, "expected": expected_windows(lines, references)}
