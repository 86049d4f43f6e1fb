"""Settings shared by every service: environment variables with the ``HYPERCARE_`` prefix."""

from pathlib import Path
from typing import Literal

from hypercare_domain.policy import default_policy_dir
from pydantic import SecretStr
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

    def resolved_policy_dir(self) -> Path:
        """The policy folder: ``HYPERCARE_POLICY_DIR`` or the shipped ``deploy/policy``."""
        return self.policy_dir if self.policy_dir is not None else default_policy_dir()
