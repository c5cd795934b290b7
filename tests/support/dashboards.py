"""The provisioned Grafana dashboards and their queries as Grafana would send them: variables
and the ClickHouse plugin's macros expanded."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from modelmon.udfs.contract import endpoint_id

GRAFANA = Path(__file__).parents[2] / "docker" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
FULLY = endpoint_id("drift", "serving", "v1", "", "fully", "")
INTERVAL_S = 60


def panels() -> list[tuple[str, dict]]:
    return [(path.stem, panel) for path in DASHBOARDS for panel in json.loads(path.read_text())["panels"]]


def expand(text: str, start: datetime, end: datetime, project: str = "drift", endpoint: str = FULLY) -> str:
    """Grafana variables, then the ClickHouse plugin's macros as its README defines them."""
    variables = {"project": project, "endpoint": endpoint, "__from:date:iso": start.isoformat().replace("+00:00", "Z"),
                 "__to:date:iso": end.isoformat().replace("+00:00", "Z")}
    text = re.sub(r"\$\{([^}]+)\}", lambda m: variables[m.group(1)], text)
    s, e = int(start.timestamp()), int(end.timestamp())
    text = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 >= toDateTime({s}) AND \1 <= toDateTime({e})", text)
    text = re.sub(r"\$__timeInterval\(([^)]+)\)", rf"toStartOfInterval(toDateTime(\1), INTERVAL {INTERVAL_S} second)",
                  text)
    text = text.replace("$__fromTime", f"toDateTime({s})").replace("$__toTime", f"toDateTime({e})")
    text = text.replace("$__interval_s", str(INTERVAL_S))
    assert "$" not in text, text
    return text
