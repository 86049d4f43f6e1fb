"""Kafka in KRaft mode from the jars `install` fetched: start one broker, wait for it, create the topics.

One local broker is enough for development and tests; it runs from Maven Central jars under `.cache/kafka/lib`
with the config in `deploy/stack/kafka/`, so no Kafka distribution or Docker is needed. Topics and their
partition counts come from `deploy/stack/topics.txt`.
"""

from __future__ import annotations

import base64
import json
import os
import string
import subprocess
import time
import uuid
from pathlib import Path

from deploy.stack.config import (
    DEFAULT_PARTITIONS,
    KAFKA_CONF,
    KAFKA_LIB,
    KAFKA_READY_SECONDS,
    LOGS,
    PARTITION_OVERRIDES,
    STACK,
    TOPIC_CONFIGS,
    TOPICS_FILE,
    Kafka,
    StackError,
    bind_host,
    is_local,
    rel,
)
from deploy.stack.install import kafka_jars_ready
from deploy.stack.procs import (
    fail_with_log,
    pid_alive,
    pid_is,
    port_open,
    read_pid,
    remove_pid,
    run,
    say,
    spawn_detached,
    write_pid,
)


def java_cmd(main: str, *args: str, tool: bool = True) -> list[str]:
    if tool:  # short-lived CLI: start fast, log warnings only
        jvm = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dhypercare.kafka.log.level=WARN"]
    else:
        heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms512m -Xmx1g").split()
        jvm = [
            *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={LOGS}",
        ]  # fmt: skip
    return [
        "java", *jvm, f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.xml'}",
        "-cp", f"{KAFKA_LIB}/*", main, *args,
    ]  # fmt: skip


def kafka_metadata(kafka: Kafka, timeout_s: int = 3) -> dict[str, int] | None:
    """Topic -> partition count from a real metadata request (kcat); None when the broker does not answer."""
    proc = run(
        ["kcat", "-b", kafka.bootstrap, "-L", "-J", "-m", str(timeout_s)],
        check=False,
        capture=True,
        timeout=timeout_s + 10,
    )
    if proc.returncode != 0:
        return None
    try:
        meta = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    if not meta.get("brokers"):
        return None
    return {t["topic"]: len(t.get("partitions", [])) for t in meta.get("topics", []) if not t.get("error")}


def wanted_topics() -> list[tuple[str, int]]:
    topics = []
    for raw in TOPICS_FILE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *rest = line.split()
        partitions = int(rest[0]) if rest else PARTITION_OVERRIDES.get(name, DEFAULT_PARTITIONS)
        topics.append((name, partitions))
    return topics


def kafka_dirs() -> tuple[Path, Path, Path]:
    base = STACK / "kafka"
    return base, base / "data", base / "server.properties"


def cluster_id(base: Path, data: Path) -> str:
    id_file = base / "cluster.id"
    meta = data / "meta.properties"
    if meta.exists():  # the data directory is the truth; keep the id file in step with it
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                cid = line.split("=", 1)[1].strip()
                if not id_file.exists() or id_file.read_text().strip() != cid:
                    id_file.write_text(cid + "\n")
                return cid
    if id_file.exists() and id_file.read_text().strip():
        return id_file.read_text().strip()
    # What `kafka-storage.sh random-uuid` prints (org.apache.kafka.common.Uuid): 16 random bytes, URL-safe
    # base64 without padding, never starting with '-'. Made here to spare a JVM start.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            break
    id_file.write_text(cid + "\n")
    return cid


def start_kafka(kafka: Kafka) -> int:
    if not is_local(kafka.host):
        raise StackError(
            f"Kafka at {kafka.bootstrap} does not answer, and it is not a local address to start on"
        )
    if port_open(bind_host(kafka.host), kafka.controller_port):
        raise StackError(
            f"port {kafka.controller_port} (Kafka controller listener) is taken by another process; "
            "free it or set HYPERCARE_KAFKA_CONTROLLER_PORT"
        )
    base, data, props = kafka_dirs()
    data.mkdir(parents=True, exist_ok=True)
    template = string.Template((KAFKA_CONF / "server.properties.template").read_text())
    props.write_text(
        template.substitute(
            host=bind_host(kafka.host),
            advertised_host=kafka.host,
            port=kafka.port,
            controller_port=kafka.controller_port,
            data_dir=data,
        )
    )
    cid = cluster_id(base, data)
    if not (data / "meta.properties").exists():
        say(f"kafka: formatting {rel(data)} (cluster id {cid})")
        run(java_cmd("kafka.tools.StorageTool", "format", "-g", "-t", cid, "-c", str(props)), capture=True)
    pid = spawn_detached(java_cmd("kafka.Kafka", str(props), tool=False), LOGS / "kafka.log", cwd=base)
    write_pid("kafka", pid)
    say(f"kafka: started pid {pid} on {kafka.bootstrap} (controller :{kafka.controller_port}), cluster {cid}")
    return pid


def wait_kafka(kafka: Kafka, pid: int | None) -> dict[str, int]:
    deadline = time.monotonic() + KAFKA_READY_SECONDS
    log = LOGS / "kafka.log"
    while True:
        if pid is not None and not pid_alive(pid):
            remove_pid("kafka")
            fail_with_log(f"kafka (pid {pid}) exited during start-up", log)
        meta = kafka_metadata(kafka, timeout_s=2) if port_open(kafka.host, kafka.port) else None
        if meta is not None:
            return meta
        if time.monotonic() >= deadline:
            if pid is None:
                raise StackError(f"something answers on {kafka.bootstrap} but it is not a Kafka broker")
            fail_with_log(f"kafka did not answer a metadata request within {KAFKA_READY_SECONDS:.0f}s", log)
        time.sleep(0.5)


def ensure_topics(kafka: Kafka, meta: dict[str, int] | None = None) -> None:
    wanted = wanted_topics()
    meta = meta if meta is not None else kafka_metadata(kafka)
    if meta is None:
        raise StackError(f"Kafka at {kafka.bootstrap} does not answer: run `stack.py up` first")
    missing = [(name, parts) for name, parts in wanted if name not in meta]
    for name, parts in wanted:
        if name in meta and meta[name] < parts:
            say(f"topics: {name} has {meta[name]} partitions, topics.txt wants {parts} (left as it is)")
    if not missing:
        say(f"topics: all {len(wanted)} present")
        return
    say(f"topics: creating {len(missing)}: {' '.join(name for name, _ in missing)}")
    # One JVM per topic (TopicCommand takes one --topic); run them two at a time on this 2-core budget.
    pending = list(missing)
    running: list[tuple[str, subprocess.Popen[str]]] = []
    errors = []
    while pending or running:
        while pending and len(running) < max(2, min(4, os.cpu_count() or 2)):
            name, parts = pending.pop(0)
            settings = [
                arg
                for key, value in TOPIC_CONFIGS.get(name, {}).items()
                for arg in ("--config", f"{key}={value}")
            ]
            cmd = java_cmd(
                "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", kafka.bootstrap, "--create",
                "--if-not-exists", "--topic", name, "--partitions", str(parts), "--replication-factor", "1",
                *settings,
            )  # fmt: skip
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            running.append((name, proc))
        name, proc = running.pop(0)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            errors.append(f"{name}: {out.strip()}")
    if errors:
        raise StackError("topic creation failed:\n" + "\n".join(errors))
    after = kafka_metadata(kafka) or {}
    still = [name for name, _ in wanted if name not in after]
    if still:
        raise StackError(f"topics still missing after creation: {' '.join(still)}")
    say(f"topics: all {len(wanted)} present")


def up_kafka_begin(kafka: Kafka) -> tuple[str, int | None]:
    """Reuse our broker or whatever answers on the port, else start one: (state for `up`, our pid or None)."""
    pid = read_pid("kafka")
    if pid_is(pid, "kafka.Kafka"):
        return f"ours, already running (pid {pid})", pid
    remove_pid("kafka")
    if port_open(kafka.host, kafka.port):
        return "reused (already answering, not ours)", None
    if not kafka_jars_ready():
        raise StackError("Kafka jars missing: run `python3 deploy/stack/stack.py install` first")
    pid = start_kafka(kafka)
    return f"ours, started (pid {pid})", pid
