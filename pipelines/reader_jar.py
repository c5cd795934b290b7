"""The Java reader (``pipelines/java``), compiled into a jar on first use.

It holds the two Flink formats that read events in Java, one per kind of source (and the
keyed Python operator whose checkpoints keep its timers, ``TimersInCheckpointKeyedProcessOperator``):
``modelmon-line-blocks`` for the filesystem connector (a spool's files in blocks of whole lines,
one row each: Flink hands rows to Python one at a time, and a row per line caps the job near
70,000 lines/s) and ``modelmon-events`` for Kafka (one message per row). Beside each block or
message goes its events read into columns (``BlockEvents.java``, :mod:`modelmon.udfs.java_events`).

The reader's constants are generated from the contract (:data:`modelmon.udfs.contract.READER_CONSTANTS`)
into ``Contract.java`` at each build. It is Java against the Flink jars the apache-flink package
ships, so it needs ``javac`` but no Maven; the jar is cached by the digest of its sources and
the contract in a cache directory of the user's (:func:`cache_directory`), never inside the
installed package, which may be read-only.

``python -m modelmon.pipelines.reader_jar`` builds it ahead of time (the docker image does) and prints its path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pyflink

from modelmon.udfs.contract import READER_CONSTANTS

JAVA_SOURCES = Path(__file__).parent / "java"
LINE_BLOCKS_FORMAT = "modelmon-line-blocks"
EVENTS_FORMAT = "modelmon-events"
JAVA_RELEASE = "11"  # the oldest Java that Flink 2.x runs on
FLINK_JARS = Path(pyflink.__file__).parent / "lib" / "*"
PYTHON_OPERATOR_JARS = Path(pyflink.__file__).parent / "opt" / "*"  # flink-python, for the keyed operator


def cache_directory() -> Path:
    """Where built artefacts are kept: ``MODELMON_CACHE_DIR``, else ``$XDG_CACHE_HOME/modelmon``,
    else ``~/.cache/modelmon``."""
    if os.environ.get("MODELMON_CACHE_DIR"):
        return Path(os.environ["MODELMON_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modelmon"


def contract_source() -> str:
    """``Contract.java``: the contract's constants as the Java reader takes them.

    >>> print(contract_source().splitlines()[5])
        static final String[] ENDPOINT_FIELDS = {"class", "model", "version", "function_uri", "project", "endpoint_id"};
    """
    lines = []
    for name, value in READER_CONSTANTS.items():
        if isinstance(value, tuple):
            lines.append(f"    static final String[] {name} = {{{', '.join(json.dumps(v) for v in value)}}};")
        elif -2**31 <= value < 2**31:
            lines.append(f"    static final int {name} = {value};")
        else:
            lines.append(f"    static final long {name} = {value}L;")
    return "\n".join([
        "package modelmon.flink;", "",
        "/** The event contract's fields and limits, generated from modelmon/udfs/contract.py: do not edit. */",
        "final class Contract {", "", *lines, "", "    private Contract() {", "    }", "}", ""])


def _source_files() -> list[Path]:
    return sorted(path for path in JAVA_SOURCES.rglob("*") if path.is_file())


def _javac() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(java_home) / "bin" / "javac")] if java_home else []
    candidates.append(shutil.which("javac") or "")
    for javac in candidates:
        if javac and os.access(javac, os.X_OK):
            return javac
    raise ValueError("the Java reader is compiled on first use, and javac is missing: install a JDK 11 or "
                     "newer (Debian: openjdk-17-jdk-headless; make installs it)")


def reader_jar() -> Path:
    """The reader's jar, compiled if its sources or the contract changed since it was last built."""
    sources = _source_files()
    contract = contract_source()
    digest = hashlib.sha256(contract.encode())
    for path in sources:
        digest.update(str(path.relative_to(JAVA_SOURCES)).encode() + b"\0" + path.read_bytes())
    jar = cache_directory() / "jars" / f"modelmon-reader-{digest.hexdigest()[:12]}.jar"
    if jar.is_file():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as work:  # concurrent builds each rename a whole jar
        classes, generated = Path(work) / "classes", Path(work) / "Contract.java"
        generated.write_text(contract)
        compiled = subprocess.run(
            [_javac(), "--release", JAVA_RELEASE, "-nowarn", "-d", str(classes), "-cp", f"{FLINK_JARS}{os.pathsep}{PYTHON_OPERATOR_JARS}",
             str(generated), *(str(path) for path in sources if path.suffix == ".java")],
            capture_output=True, text=True)
        if compiled.returncode != 0:
            raise RuntimeError(f"compiling {JAVA_SOURCES} failed:\n{compiled.stderr}")
        built = Path(work) / jar.name
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
            for path in sources:
                if path.suffix != ".java":  # the service file that lets Flink find the factories
                    archive.write(path, path.relative_to(JAVA_SOURCES).as_posix())
        os.replace(built, jar)
    # Jars of other sources stay: another installed version (or a job still running on it) may use them.
    return jar


class ReaderProcess:
    """``BlockEvents.main`` in a JVM of its own: a block (or, with ``messages``, a Kafka message)
    in, its event columns out (the bytes :func:`modelmon.udfs.java_events.decode` reads), as the
    sources read them but without a Flink job. For the tests and the benchmark's parse-stage row."""

    def __init__(self, messages: bool = False):
        java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"
        classpath = f"{reader_jar()}{os.pathsep}{FLINK_JARS}"
        self.process = subprocess.Popen([shutil.which(java) or java, "-cp", classpath, "modelmon.flink.BlockEvents",
                                         *(["messages"] if messages else [])],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def __call__(self, block: bytes) -> bytes:
        self.process.stdin.write(struct.pack(">i", len(block)) + block)
        self.process.stdin.flush()
        (length,) = struct.unpack(">i", self.process.stdout.read(4))
        return self.process.stdout.read(length)

    def close(self) -> None:
        self.process.stdin.close()
        if self.process.wait(timeout=30) != 0:
            raise RuntimeError(f"BlockEvents' main ended with exit {self.process.returncode}")


if __name__ == "__main__":
    print(reader_jar())
