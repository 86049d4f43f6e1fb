"""Settings shared by every service: environment variables with the ``HYPERCARE_`` prefix."""

from pathlib import Path
from typing import Literal

from hypercare_domain.policy import default_policy_dir
from pydantic import PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it with its own fields and port default.

    Defaults point at the local stack that ``make stack-up`` starts, so nothing is needed to run locally.
    """

    model_config = SettingsConfigDict(env_prefix="HYPERCARE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_client_id_prefix: str = "hypercare"

    database_url: SecretStr = SecretStr("postgresql://hypercare:hypercare@127.0.0.1:5432/hypercare")
    database_pool_max: int = 10
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    policy_dir: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = None
    """JSON logs; ``None`` means JSON when stderr is not a TTY."""

    http_host: str = "127.0.0.1"
    http_port: int = 0

    gc_threshold: int = 20_000
    """Young-generation threshold of Python's cycle collector (see ``hypercare_runtime.process``); 0 keeps
    the interpreter's default of 700."""
    gc_full_every_s: float = 900.0
    """A service that collects between batches (``BatchCollector``: triage) collects everything at least
    this often, and when its peak memory grew by ``gc_full_after_growth_mib``; in between, collections
    only look at what the current batch allocated. A full collection pauses triage for 100-160 ms."""
    gc_full_after_growth_mib: float = 64.0
    """Peak memory growth (MiB) since the last full collection that calls for the next one."""

    def resolved_policy_dir(self) -> Path:
        """The policy folder: ``HYPERCARE_POLICY_DIR`` or the shipped ``deploy/policy``."""
        return self.policy_dir if self.policy_dir is not None else default_policy_dir()


class StreamSettings(ServiceSettings):
    """A service that consumes batches, produces their output, then commits (normalizer, triage)."""

    batch_timeout_ms: PositiveInt = 100
    """How long one poll waits for the first record. A poll returns as soon as records are fetched
    (:func:`~hypercare_runtime.kafka.poll_without_idle_sleep`), so this adds no delay: it sets how often
    an idle service wakes up, and how late it notices a consumer-group error."""
    commit_interval_ms: int = 50
    """At most one offset commit per interval, always after the output of the committed batches was
    acknowledged; a crash replays at most the batches of one interval (at-least-once)."""
    kafka_linger_ms: int = 0
    """Producer linger. The service sends a whole batch and then waits for its acknowledgements, so a
    linger would only delay that wait."""
