"""A continuous run stopped with Ctrl-C, and the demo at the end of its ``--duration``: each
stops its job with a savepoint, ends without a traceback, says what the store holds and where
the savepoint is, and a run restored from that savepoint goes on from it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from modelmon.simulator import simulate
from tests.support.environment import child_environment
from tests.support.job_process import JobProcess

SAVEPOINT = re.compile(r"savepoint: file:(\S+)")
ROWS = re.compile(r"rows in the store: (\{.*\})")


def stopped_cleanly(output: str) -> tuple[Path, dict]:
    """The savepoint and the row counts a stopped run printed, after checking it printed no traceback."""
    assert "Traceback" not in output and "Channel closed prematurely" not in output, output[-3000:]
    savepoint = Path(SAVEPOINT.search(output).group(1))
    assert (savepoint / "_metadata").is_file()
    return savepoint, ast.literal_eval(ROWS.search(output).group(1))


def test_ctrl_c_stops_a_continuous_run_with_a_savepoint_it_can_go_on_from(tmp_path):
    # One segment, read in order: 1,000 s of event time, no event late.
    simulate(tmp_path / "spool", 2_000, endpoints=3, seed=31, events_per_second=2.0, segment_lines=2_000)
    arguments = ["--source", str(tmp_path / "spool"), "--store", f"chdb://{tmp_path / 'store'}",
                 "--checkpoint-dir", str(tmp_path / "checkpoints"), "--checkpoint-interval", "1"]
    first = JobProcess(tmp_path, "first", arguments)
    try:
        first.wait_for(lambda: "endpoint_metrics: wrote" in first.text(), "the first windows")
        assert first.interrupt() == 0, first.text()[-3000:]
    finally:
        first.kill()  # nothing left running when the test fails
    savepoint, rows = stopped_cleanly(first.text())
    assert rows["endpoint_metrics"] > 0 and rows["invalid_events"] == 0

    second = JobProcess(tmp_path, "second", [*arguments, "--restore", str(savepoint)])
    try:
        # Running once it completes a checkpoint of its own (its writer has nothing to write).
        second.wait_for(lambda: "Completed checkpoint" in second.flink_log(), "the restored job to run")
        assert second.interrupt() == 0, second.text()[-3000:]
    finally:
        second.kill()
    stopped_cleanly(second.text())
    assert "Restoring job" in second.flink_log()


def test_the_demo_ends_at_its_duration_with_exit_0_and_no_traceback(tmp_path):
    demo = subprocess.run([sys.executable, "-m", "modelmon.cli", "demo", "--duration", "60"], cwd=tmp_path,
                          env=child_environment(MODELMON_PROXY_PORT="0"), capture_output=True, text=True, timeout=300)
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-3000:]
    assert "modelmon demo: stopped cleanly" in output
    _, rows = stopped_cleanly(output)
    assert rows["endpoint_metrics"] > 0
    # its one alert rule: once the drifting endpoint's status is DRIFT_DETECTED, its own webhook got the alert
    assert "alert:  ada-boost-drift (drift_detected) -> webhook http://127.0.0.1:" in output
    final = output[output.index("final summary"):]
    if re.search(r"ada-boost .* DRIFT_DETECTED", final):
        assert "alert received by the demo's webhook: [high] ada-boost-drift: drift_detected on endpoint " in output
    assert rows["alert_activations"] == ("alert received by the demo's webhook" in output)
