"""Flink's Kafka SQL connector: fetched once with Maven's client into the user's cache, checked
against its pinned SHA-256, and found there by the job, so that a run needs no network.

``python -m modelmon.pipelines.kafka_connector`` fetches it (``make test`` and ``make demo`` do)
and prints its path. A job whose source is Kafka adds the cached jar to its class path unless
``--jars`` names one; on a cluster the jar may instead sit in Flink's ``lib/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pyflink.java_gateway import get_gateway

from modelmon.pipelines.reader_jar import cache_directory

KAFKA_CONNECTOR_VERSION = "5.0.0-2.2"  # the Kafka connector release for Flink 2.1 and 2.2
KAFKA_CONNECTOR_ARTIFACT = f"org.apache.flink:flink-sql-connector-kafka:{KAFKA_CONNECTOR_VERSION}"
KAFKA_CONNECTOR_JAR = f"flink-sql-connector-kafka-{KAFKA_CONNECTOR_VERSION}.jar"
KAFKA_CONNECTOR_SHA256 = "5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616"
KAFKA_CONNECTOR_URL = ("https://repo.maven.apache.org/maven2/org/apache/flink/flink-sql-connector-kafka/"
                       f"{KAFKA_CONNECTOR_VERSION}/{KAFKA_CONNECTOR_JAR}")
_KAFKA_FACTORY = "org.apache.flink.streaming.connectors.kafka.table.KafkaDynamicTableFactory"


def cached_path() -> Path:
    return cache_directory() / "jars" / KAFKA_CONNECTOR_JAR


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_connector() -> Path | None:
    """The cached jar, or None when it was never fetched; a jar whose digest is not the pinned
    one is an error, not a jar to load."""
    path = cached_path()
    if not path.is_file():
        return None
    if sha256(path) != KAFKA_CONNECTOR_SHA256:
        raise ValueError(f"{path} is not {KAFKA_CONNECTOR_ARTIFACT} (its SHA-256 differs from the pinned "
                         f"{KAFKA_CONNECTOR_SHA256}): remove it and run python -m modelmon.pipelines.kafka_connector")
    return path


def fetch_connector() -> Path:
    """The cached jar, fetched first with ``mvn dependency:copy`` (strict checksums) if missing."""
    path = cached_connector()
    if path is not None:
        return path
    maven = shutil.which("mvn")
    if maven is None:
        raise ValueError(f"fetching {KAFKA_CONNECTOR_ARTIFACT} needs Maven's client (mvn): install maven, "
                         f"or download {KAFKA_CONNECTOR_URL} to {cached_path()}")
    target = cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        subprocess.run([maven, "--quiet", "--batch-mode", "--strict-checksums", "dependency:copy",
                        f"-Dartifact={KAFKA_CONNECTOR_ARTIFACT}", f"-DoutputDirectory={folder}"], check=True)
        fetched = Path(folder) / KAFKA_CONNECTOR_JAR
        if sha256(fetched) != KAFKA_CONNECTOR_SHA256:
            raise ValueError(f"Maven fetched a {KAFKA_CONNECTOR_JAR} whose SHA-256 is not the pinned "
                             f"{KAFKA_CONNECTOR_SHA256}")
        os.replace(fetched, target)
    return target


def require_kafka_connector() -> None:
    """Stop before building the job when the Kafka connector is not on the classpath."""
    jvm = get_gateway().jvm
    try:
        jvm.java.lang.Class.forName(_KAFKA_FACTORY, False, jvm.java.lang.Thread.currentThread()
                                    .getContextClassLoader())
    except Exception:  # py4j reports ClassNotFoundException as a generic Py4JJavaError
        raise ValueError(
            f"the Kafka source needs Flink's Kafka SQL connector, {KAFKA_CONNECTOR_JAR}, which is neither in "
            f"{cached_path().parent} nor on the classpath: fetch it with python -m modelmon.pipelines.kafka_connector "
            f"(Maven's client), or download it from {KAFKA_CONNECTOR_URL} and pass --jars /path/to/"
            f"{KAFKA_CONNECTOR_JAR} (or set pipeline.jars), or put it in Flink's lib/ directory") from None


if __name__ == "__main__":
    try:
        print(fetch_connector())
    except (ValueError, subprocess.CalledProcessError) as error:
        sys.exit(f"kafka_connector: {error}")
