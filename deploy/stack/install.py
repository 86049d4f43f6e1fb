"""Installs what the stack needs: Debian packages, uv, Kafka's jars from Maven Central, then `uv sync`.

`stack.py install` (and `make install`) runs before any virtualenv exists, so this is standard library only and
skips every step whose result is already there: running it again is cheap.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.stack.config import APT_PACKAGES, KAFKA_CONF, KAFKA_LIB, KAFKA_MARKER, ROOT, StackError, rel
from deploy.stack.procs import run, say


def _missing_debs(packages: Sequence[str]) -> list[str]:
    proc = run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages], check=False, capture=True
    )
    installed = {line.split()[0] for line in (proc.stdout or "").splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def install_debian_packages() -> None:
    if not shutil.which("dpkg-query"):
        say("not a Debian system: install PostgreSQL, Redis, kcat, Prometheus and Alertmanager yourself")
        return
    wanted = list(APT_PACKAGES)
    if not shutil.which("java"):
        wanted.append("openjdk-17-jdk-headless")
    if not shutil.which("mvn"):
        wanted.append("maven")
    missing = _missing_debs(wanted)
    if not missing:
        say(f"Debian packages present: {' '.join(APT_PACKAGES)}")
        return
    if os.geteuid() != 0:
        raise StackError(
            f"missing Debian packages {' '.join(missing)}: run as root or `sudo apt-get install`"
        )
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}
    # Without an init system apt would still try to start postgresql's `main` cluster, redis and prometheus
    # on their default ports (the very ports our own stack wants); a policy-rc.d answering 101 prevents that.
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text(
            "#!/bin/sh\n# written by hypercare deploy/stack/stack.py during apt-get install\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        run(["apt-get", "update"], env=env)
        run(
            [
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confold",
                *missing,
            ],
            env=env,
        )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    still = _missing_debs(missing)
    if still:
        raise StackError(f"apt-get did not install: {' '.join(still)}")


def install_uv() -> None:
    if shutil.which("uv"):
        say(f"uv present: {shutil.which('uv')}")
        return
    say("installing uv from PyPI")
    base = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "uv"]
    if run(base, check=False).returncode != 0:
        # Debian's own python3 is "externally managed" (PEP 668).
        run([*base, "--break-system-packages"])
    if shutil.which("pyenv"):
        run(["pyenv", "rehash"], check=False)
    if not shutil.which("uv"):
        found = run([sys.executable, "-m", "uv", "--version"], check=False, capture=True)
        scripts = Path(sys.executable).parent
        raise StackError(
            f"uv was installed ({(found.stdout or '').strip()}) but is not on PATH: add {scripts} "
            "(or ~/.local/bin) to PATH"
        )


def _pom_digest() -> str:
    digest = hashlib.sha256()
    for name in ("pom.xml",):
        digest.update((KAFKA_CONF / name).read_bytes())
    return digest.hexdigest()


def kafka_jars_ready() -> bool:
    try:
        return KAFKA_MARKER.read_text().strip() == _pom_digest() and any(KAFKA_LIB.glob("kafka_2.13-*.jar"))
    except OSError:
        return False


def install_kafka_jars() -> None:
    if kafka_jars_ready():
        say(f"Kafka jars present: {rel(KAFKA_LIB)}")
        return
    if not shutil.which("mvn"):
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars from Maven Central")
    say("fetching Kafka 4.1.1 jars from Maven Central (mvn dependency:copy-dependencies)")
    shutil.rmtree(KAFKA_LIB, ignore_errors=True)
    KAFKA_MARKER.unlink(missing_ok=True)
    KAFKA_LIB.mkdir(parents=True, exist_ok=True)
    run(
        [
            "mvn", "-q", "-B", "-f", str(KAFKA_CONF / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={KAFKA_LIB}",
        ],
        cwd=KAFKA_CONF,
        capture=True,  # mvn -q still prints ANSI resets; its output is shown only when it fails
    )  # fmt: skip
    if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise StackError(f"mvn ran but {rel(KAFKA_LIB)} has no kafka_2.13 jar")
    KAFKA_MARKER.write_text(_pom_digest() + "\n")
    say(f"Kafka jars: {len(list(KAFKA_LIB.glob('*.jar')))} in {rel(KAFKA_LIB)}")


def uv_sync() -> None:
    say("uv sync --all-packages --frozen")
    run(["uv", "sync", "--all-packages", "--frozen"], cwd=ROOT)


def cmd_install(_: argparse.Namespace) -> None:
    started = time.monotonic()
    install_debian_packages()
    install_uv()
    install_kafka_jars()
    uv_sync()
    say(f"install done in {time.monotonic() - started:.1f}s")
