"""no_traffic in a continuous run: an endpoint that goes silent while another goes on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from modelmon import alert_rules, store
from modelmon.tracker import format_when, write_segment
from modelmon.udfs.alerts import make_rule
from modelmon.udfs.contract import endpoint_id
from tests.support.job_process import JobProcess
from tests.support.recovery import wait_for_the_last_windows


def test_no_traffic_opens_once_an_endpoint_is_silent_while_another_goes_on(tmp_path):
    """"quiet" stops after 20 minutes, "busy" goes on for two hours: the rule opens for quiet at
    the first minute (the slide) more than 600 s after its last request, and never for busy,
    whose last request the watermark (5 s behind the newest event) does not pass by 600 s."""
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    lines, last_quiet = [], None
    for step in range(3600):  # one event every 2 s
        when = start + timedelta(seconds=2 * step, milliseconds=137)
        for model in ("busy", "quiet") if step < 600 else ("busy",):
            lines.append(json.dumps({"model": model, "function_uri": "silence/serving:v1", "when": format_when(when),
                                     "request": {"inputs": [[1.0]]}, "resp": {"outputs": [0]}, "microsec": 900}))
            if model == "quiet":
                last_quiet = when
    write_segment(tmp_path / "spool", lines, 0)
    dsn = f"chdb://{tmp_path / 'store'}"
    client = store.open_store(dsn)
    try:
        alert_rules.save_rule(client, make_rule({"name": "silent", "project": "silence", "kind": "no_traffic",
                                                 "threshold": 600}))
    finally:
        client.close()
    job = JobProcess(tmp_path, "job", ["--source", str(tmp_path / "spool"), "--store", dsn,
                                       "--checkpoint-dir", str(tmp_path / "checkpoints")])
    try:
        job.wait_for(lambda: "alert_activations: wrote" in job.text(), "the activation")
        wait_for_the_last_windows(job, written_before=0)  # and then nothing more for 5 s
    finally:
        assert job.interrupt() == 0
    client = store.connect(dsn)
    try:
        activations = alert_rules.list_activations(client, "silence")
    finally:
        client.close()
    quiet = endpoint_id("silence", "serving", "v1", "", "quiet", "")
    last_ms = round(last_quiet.timestamp() * 1000)
    first_breach = (last_ms + 600_000) // 60_000 * 60_000 + 60_000  # the first slide end past 600 s of silence
    assert [(a["endpoint_id"], round(a["opened_at"].replace(tzinfo=timezone.utc).timestamp() * 1000), a["closed_at"])
            for a in activations] == [(quiet, first_breach, None)]
    assert activations[0]["value"] == (first_breach - last_ms) / 1000
