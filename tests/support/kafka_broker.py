"""A real Apache Kafka broker for the tests and for a person trying the Kafka source: one KRaft
node (broker and controller in one JVM) on free loopback ports, with a small heap.

Its class path comes from Maven Central through Maven's client (``kafka/pom.xml`` beside this
file), fetched once into the user's cache with strict checksums. ``make kafka`` runs one in the
foreground on 127.0.0.1:9092 (``python -m tests.support.kafka_broker``) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from modelmon.pipelines.reader_jar import cache_directory
from tests.support.loopback import free_port

KAFKA_VERSION = "4.2.0"
POM = Path(__file__).parent / "kafka" / "pom.xml"
HEAP = "-Xmx384m"
READY_SECONDS = 120


def broker_libraries() -> Path:
    """The folder of the broker's jars, fetched by ``mvn dependency:copy-dependencies`` if missing."""
    folder = cache_directory() / f"kafka-{KAFKA_VERSION}"
    if (folder / ".complete").is_file():
        return folder
    maven = shutil.which("mvn")
    if maven is None:
        raise RuntimeError("the Kafka broker's jars come from Maven Central through Maven's client: install maven")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        subprocess.run([maven, "--quiet", "--batch-mode", "--strict-checksums", "-f", str(POM),
                        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}"],
                       check=True)
        (staging / ".complete").touch()
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class KafkaBroker:
    """One KRaft node whose data lives in ``directory``; :meth:`stop` and :meth:`start` again
    keep its topics and offsets (a broker outage)."""

    def __init__(self, directory: Path, port: int | None = None, cluster_id: str | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.controller_port = free_port()
        self.libraries = broker_libraries()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.properties = directory / "server.properties"
        self.properties.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={directory / 'data'}", "num.partitions=1",
            "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1", "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0", "auto.create.topics.enable=false", ""]))
        self.logging = directory / "log4j2.properties"
        self.logging.write_text("\n".join([
            "rootLogger.level=WARN", "rootLogger.appenderRef.file.ref=file",
            "appender.file.type=File", "appender.file.name=file", f"appender.file.fileName={directory / 'broker.log'}",
            "appender.file.layout.type=PatternLayout", "appender.file.layout.pattern=%d %p %c{1}: %m%n",
            "logger.server.name=kafka.server.KafkaRaftServer", "logger.server.level=INFO", ""]))
        if not (directory / "data" / "meta.properties").exists():  # formatted once: its data is kept
            self._format(cluster_id or self.random_cluster_id())

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def random_cluster_id() -> str:
        """A random cluster id as Kafka writes one: 16 bytes, URL-safe base64 without padding
        (one in 64 begins with ``-``)."""
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()

    def _command(self, main_class: str, *arguments: str) -> list[str]:
        return ["java", HEAP, f"-Dlog4j2.configurationFile={self.logging}", "-cp", f"{self.libraries}/*",
                main_class, *arguments]

    def _format(self, cluster_id: str) -> None:
        """``kafka-storage format`` of the data folder, its message in the error when it refuses.
        The id is joined to its option: given apart, an id beginning with ``-`` reads as an option."""
        formatted = subprocess.run(self._command("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                                 "--config", str(self.properties)),
                                   capture_output=True, text=True, timeout=120)
        if formatted.returncode != 0:
            reason = [line for line in formatted.stderr.splitlines() if not line.lstrip().startswith("at ")]
            raise RuntimeError(f"formatting {self.directory / 'data'} for Kafka failed: {' '.join(reason)[-1000:]}")

    def start(self) -> float:
        """Start the node and wait until a topic can be created and listed; returns the seconds it took."""
        started = time.monotonic()
        with open(self.directory / "stdout.log", "a") as output:
            self.process = subprocess.Popen(self._command("kafka.Kafka", str(self.properties)), stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + READY_SECONDS
        probe = f"ready-{uuid.uuid4().hex[:8]}"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited ({self.process.returncode}): "
                                   f"{(self.directory / 'stdout.log').read_text()[-3000:]}")
            try:
                if probe not in self.topics():
                    self.create_topic(probe, partitions=1)
                if probe in self.topics():
                    return time.monotonic() - started
            except Exception:  # not up yet: connection refused, no controller, ...
                if time.monotonic() > deadline:
                    self.stop()
                    raise
            time.sleep(0.5)

    def admin(self):
        from kafka import KafkaAdminClient
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)

    def create_topic(self, name: str, partitions: int) -> None:
        admin = self.admin()
        try:
            admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1}})
        finally:
            admin.close()

    def topics(self) -> list[str]:
        admin = self.admin()
        try:
            return admin.list_topics()
        finally:
            admin.close()

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A one-node Kafka broker on loopback, until Ctrl-C")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--directory", default=".modelmon/kafka", help="its data, logs and configuration")
    parser.add_argument("--topic", default="predictions")
    parser.add_argument("--partitions", type=int, default=3)
    args, _ = parser.parse_known_args(argv)
    broker = KafkaBroker(Path(args.directory).resolve(), args.port)
    seconds = broker.start()
    if args.topic not in broker.topics():
        broker.create_topic(args.topic, args.partitions)
    print(f"Kafka {KAFKA_VERSION} on {broker.bootstrap} (ready in {seconds:.1f} s), topic {args.topic!r}: "
          f"modelmon run --source kafka://{broker.bootstrap}/{args.topic}; Ctrl-C stops it", flush=True)
    try:
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
