"""The spool source's line-block format (``pipelines/java``), compiled into a jar on first use.

Flink hands rows to Python one at a time, so reading a spool file line by line caps the job
near 70,000 lines/s before any work is done. The filesystem connector's format
``modelmon-line-blocks`` reads blocks of whole lines instead, one row each, and beside each
block its plain events read into columns (``BlockEvents.java``, :mod:`udfs.block_events`). It
is Java against the Flink jars the apache-flink package ships (and the Jackson inside them),
so it needs ``javac`` but no Maven; the jar is cached under ``pipelines/java/build`` by the
sources' digest.

``python -m pipelines.line_blocks`` builds it ahead of time (the docker image does) and prints its path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pyflink

JAVA_SOURCES = Path(__file__).parent / "java"
FORMAT_IDENTIFIER = "modelmon-line-blocks"
JAVA_RELEASE = "11"  # the oldest Java that Flink 2.x runs on


def _source_files() -> list[Path]:
    return sorted(path for path in JAVA_SOURCES.rglob("*")
                  if path.is_file() and "build" not in path.relative_to(JAVA_SOURCES).parts)


def _javac() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(java_home) / "bin" / "javac")] if java_home else []
    candidates.append(shutil.which("javac") or "")
    for javac in candidates:
        if javac and os.access(javac, os.X_OK):
            return javac
    raise ValueError("the spool source's line-block format is Java compiled on first use, and javac is "
                     "missing: install a JDK 11 or newer (Debian: openjdk-17-jdk-headless; make installs it)")


def line_block_jar() -> Path:
    """The format's jar, compiled if its sources changed since it was last built."""
    sources = _source_files()
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(JAVA_SOURCES)).encode() + b"\0" + path.read_bytes())
    jar = JAVA_SOURCES / "build" / f"{FORMAT_IDENTIFIER}-{digest.hexdigest()[:12]}.jar"
    if jar.is_file():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    flink_jars = Path(pyflink.__file__).parent / "lib" / "*"
    with tempfile.TemporaryDirectory(dir=jar.parent) as work:  # concurrent builds each rename a whole jar
        classes = Path(work) / "classes"
        compiled = subprocess.run(
            [_javac(), "--release", JAVA_RELEASE, "-nowarn", "-d", str(classes), "-cp", str(flink_jars),
             *(str(path) for path in sources if path.suffix == ".java")],
            capture_output=True, text=True)
        if compiled.returncode != 0:
            raise RuntimeError(f"compiling {JAVA_SOURCES} failed:\n{compiled.stderr}")
        built = Path(work) / jar.name
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
            for path in sources:
                if path.suffix != ".java":  # the service file that lets Flink find the factory
                    archive.write(path, path.relative_to(JAVA_SOURCES).as_posix())
        os.replace(built, jar)
    for stale in jar.parent.glob(f"{FORMAT_IDENTIFIER}-*.jar"):
        if stale != jar:
            stale.unlink(missing_ok=True)
    return jar


class BlockEventsProcess:
    """``BlockEvents.main`` in a JVM of its own: a block in, its event columns out (the bytes
    :func:`udfs.block_events.decode` reads), as the source reads them but without a Flink job.
    For the tests and the benchmark's parse-stage row."""

    def __init__(self):
        java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else "java"
        classpath = f"{line_block_jar()}{os.pathsep}{Path(pyflink.__file__).parent / 'lib' / '*'}"
        self.process = subprocess.Popen([shutil.which(java) or java, "-cp", classpath, "modelmon.flink.BlockEvents"],
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
    print(line_block_jar())
