"""Configuration: one settings object, created once per process and passed in.

Read from `BANJIAN_*` environment variables, plus the conventional `DATABASE_URL` and
`TEMPORAL_ADDRESS` of a production deployment; command-line options override them.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BANJIAN_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "BANJIAN_DATABASE_URL"))
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "BANJIAN_TEMPORAL_ADDRESS"))
    temporal_port: int = 7233
    ui_port: int | None = None
    namespace: str = "default"
    task_queue: str = "banjian"
    host: str = "127.0.0.1"
    port: int = 8000
    simulation: bool = False
    token_ttl_seconds: int = 8 * 3600
    update_timeout_seconds: float = 30.0
    workflow_sandbox: bool = Field(default=False, description="run workflows in the SDK's sandbox (tests do; see worker.py)")

    @property
    def db_url(self) -> str:
        """The read model's database: DATABASE_URL, else SQLite in the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'banjian.db').resolve()}"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_port(self) -> int:
        return self.ui_port or self.temporal_port + 1000

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archives"

    def secret_key(self) -> str:
        """The token-signing key, kept in the data dir (created on first use)."""
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()
