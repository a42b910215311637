"""Configuration: one settings object, created once per process and passed in.

Read from `BANJIAN_*` environment variables, plus the conventional `DATABASE_URL` and
`TEMPORAL_ADDRESS` of a production deployment; command-line options override them.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator
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
    #: the address people reach the platform at (`https://zwfw.example.gov.cn`): the e-licence's QR
    #: code and 在线核验 link point under it, never at the request's Host header (which a caller
    #: chooses); unset: the API's own address as `banjian up` knows it (`public_base_url`)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    #: public e-licence verification (API and page) per caller address: at most `verify_limit`
    #: requests within `verify_window_seconds`, then 429 with Retry-After (this process's count)
    verify_limit: int = Field(default=60, ge=1, le=100000)
    verify_window_seconds: int = Field(default=60, ge=1, le=86400)
    #: consultations filed without a login (API and guide page) per caller address: at most
    #: `inquiry_limit` within `inquiry_window_seconds`, then 429 with Retry-After (each starts a workflow)
    inquiry_limit: int = Field(default=20, ge=1, le=100000)
    inquiry_window_seconds: int = Field(default=600, ge=1, le=86400)
    token_ttl_seconds: int = 8 * 3600
    update_timeout_seconds: float = 30.0
    # Payload encryption (banjian/codec.py): "id:<32 hex>[,id:<32 hex>…]"; the first (or
    # payload_key_id) encrypts, all decrypt. Unset: a ring generated once in the data dir.
    payload_keys: str | None = None
    payload_key_id: str | None = None
    # Origins allowed to call the codec server (/api/codec), comma-separated; default: the
    # embedded Temporal UI (http://127.0.0.1:U and http://localhost:U).
    codec_origins: str | None = None
    # Production mode (BANJIAN_ENV=production) refuses to start with generated or default secrets,
    # without TLS to Temporal, or with the simulation clock (banjian/production.py).
    env: Literal["development", "production"] = "development"
    token_secret: str | None = None  # the token-signing key; unset: generated in the data dir
    #: the key of the progress codes printed on a case's notices and in their QR code (办件进度查询,
    #: api/case_documents.py), apart from the token-signing key so that rotating either leaves the
    #: other alone; unset: kept in the data dir as `progress.key` (`progress_key`)
    progress_secret: str | None = None
    #: online payment (banjian/payments.py): the provider's callback secret (unset: a key kept in the
    #: data dir, refused in production); the sandbox provider's pay route is off in production
    payment_secret: str | None = None
    temporal_tls: bool = False  # TLS to Temporal with the system's CAs (or temporal_tls_ca)
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None  # mTLS client certificate and key
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None
    hsts: bool = False  # send Strict-Transport-Security (also sent on any request that came over https)
    # Login throttling (contract, "Identity")
    login_window_seconds: int = Field(default=900, ge=60, le=86400)
    login_limit: int = Field(default=10, ge=1, le=1000)
    lockout_after: int = Field(default=20, ge=2, le=10000)
    lockout_seconds: int = Field(default=900, ge=60, le=86400 * 7)
    # Observability (banjian/metrics.py, banjian/tracing.py, banjian/logs.py)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tracing: Literal["off", "console", "otlp"] = "off"
    otlp_endpoint: str | None = None
    service_name: str = "banjian"
    sdk_metrics: bool = True  # the Temporal SDK's metrics, bridged into /metrics
    metrics_token: str | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`
    # uploaded files (docs/operations.md, "File storage"): `local` under data_dir/files; `s3` is
    # configured here for production but not built in this release
    files_backend: Literal["local", "s3"] = "local"
    files_s3_endpoint: str | None = None
    files_s3_bucket: str | None = None
    files_s3_region: str | None = None
    #: database connection pools, sized apart for the API and the worker (`pool_options`): a worker
    #: pool at least as large as its activity threads never makes an activity wait for a connection
    api_db_pool_size: int = Field(default=10, ge=1, le=500)
    api_db_max_overflow: int = Field(default=20, ge=0, le=500)
    worker_db_pool_size: int = Field(default=20, ge=1, le=500)
    worker_db_max_overflow: int = Field(default=10, ge=0, le=500)
    #: how long a request waits for a free connection before it is answered 503 with Retry-After
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: a case workflow's task timeout (Temporal's default is 10 s): a saturated worker may take
    #: longer than that to finish a task, which then fails and is retried from scratch
    workflow_task_timeout_seconds: int = Field(default=30, ge=1, le=120)
    #: the SM4 master key (32 hex digits) that encrypts the departments' e-licence signing keys
    #: (banjian/licence_store.py); unset: a development default, refused in production mode
    licence_master_key: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    #: the platform's administrative division code (GB/T 2260), the first part of every case number
    region_code: str = Field(default="330100", pattern=r"^\d{6}$")
    #: a fault-injection hook for tests (refused in production): while this file exists, the worker's
    #: `issue_licence` waits right after committing a licence (and creates `<file>.held` to say so),
    #: so a test can kill the worker process at the worst moment (tests/test_licence_durability.py)
    licence_issue_hold: Path | None = None

    #: worker processes `banjian up` runs beside its API process (0: the worker runs inside the API's
    #: process, sharing its interpreter lock — about 40 % fewer cases per second, docs/benchmarks.md)
    worker_processes: int = Field(default=1, ge=0, le=16)
    #: a worker process serves its Prometheus metrics on 127.0.0.1 at this port (`banjian up` picks a
    #: free one per child and merges them into the API's GET /metrics, labelled `process`)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: every worker drains the archive queue (banjian/archive_queue.py) this often, in seconds (0: this
    #: worker builds no packages; closed cases wait in the queue for one that does)
    archive_sweep_seconds: float = Field(default=1.0, ge=0, le=3600)
    #: `banjian up` with worker processes builds the archive packages in a child process of its own
    #: (`banjian archiver`) at a lower CPU priority (`archiver_nice`), so that packages yield the CPU
    #: to the actions people wait for; its workers then sweep nothing. Off: each worker sweeps.
    archive_process: bool = True
    #: the archiver process's niceness (0 to 19; 10 gets about a tenth of a busy core's time)
    archiver_nice: int = Field(default=10, ge=0, le=19)

    def pool_options(self, role: Literal["api", "worker"]) -> dict[str, Any]:
        """`make_engine` keyword arguments for the API's or the worker's connection pool."""
        if role == "api":
            return {"pool_size": self.api_db_pool_size, "max_overflow": self.api_db_max_overflow,
                    "pool_timeout": self.db_pool_timeout_seconds}
        return {"pool_size": self.worker_db_pool_size, "max_overflow": self.worker_db_max_overflow,
                "pool_timeout": self.db_pool_timeout_seconds}
    workflow_sandbox: bool = Field(default=False, description="run workflows in the SDK's sandbox (tests do; see worker.py)")
    # the event feed (banjian/feed.py): retries double from the base up to the cap, counted from the
    # start of the failed attempt (contract: attempts at most 30 s apart; 25 leaves 5 s for a worker
    # or a Temporal server under load to start the next one)
    feed_retry_base_seconds: float = Field(default=1.0, gt=0, le=30)
    feed_retry_max_seconds: float = Field(default=25.0, gt=0, le=30)
    feed_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="one POST to a subscriber")
    feed_poll_seconds: float = Field(default=0.5, gt=0, le=4, description="how often a drain looks for new events")
    feed_drain_seconds: float = Field(default=60.0, ge=1, le=600, description="one drain activity's run")
    feed_batch: int = Field(default=50, ge=1, le=1000, description="cases delivered to at once per subscriber")
    feed_rounds_per_run: int = Field(default=50, ge=2, le=1000,
                                     description="delivery rounds per workflow run before continue-as-new")
    feed_retention_days: float = Field(default=30.0, ge=0.001, le=3650,
                                       description="delivered events are kept this long, then pruned")

    @field_validator("database_url")
    @classmethod
    def _postgres_driver(cls, url: str | None) -> str | None:
        """`postgresql://…` (and `postgres://…`) without a driver means the installed psycopg2: SQLAlchemy
        2.1 would otherwise pick psycopg 3, which banjian does not install."""
        if url is None:
            return None
        for bare in ("postgresql://", "postgres://"):
            if url.startswith(bare):
                return "postgresql+psycopg2://" + url[len(bare):]
        return url

    @property
    def db_url(self) -> str:
        """The read model's database: DATABASE_URL, else SQLite in the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'banjian.db').resolve()}"

    @property
    def public_base_url(self) -> str:
        """Where the platform is reached, without a trailing slash: BANJIAN_PUBLIC_URL, else
        http://{host}:{port} of the API (127.0.0.1 for a wildcard host)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_port(self) -> int:
        return self.ui_port or self.temporal_port + 1000

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def temporal_tls_on(self) -> bool:
        return bool(self.temporal_tls or self.temporal_tls_ca or self.temporal_tls_cert)

    @property
    def codec_origin_list(self) -> list[str]:
        if self.codec_origins:
            return [o.strip() for o in self.codec_origins.split(",") if o.strip()]
        return [f"http://127.0.0.1:{self.temporal_ui_port}", f"http://localhost:{self.temporal_ui_port}"]

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archives"

    def secret_key(self) -> str:
        """The token-signing key: BANJIAN_TOKEN_SECRET, else kept in the data dir (created on first use)."""
        if self.token_secret:
            return self.token_secret
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def progress_key(self) -> str:
        """The progress-code key: BANJIAN_PROGRESS_SECRET, else kept in the data dir as `progress.key`.

        Created on first use: from the data dir's `secret.key` when there is one (the key progress codes
        were made with before they had their own, so notices already printed keep opening their page),
        else at random. From then on the two files are apart: rotating `secret.key` (logging everyone
        out) leaves every printed code valid, and replacing `progress.key` leaves every login alone."""
        if self.progress_secret:
            return self.progress_secret
        path = self.data_dir / "progress.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            legacy = self.data_dir / "secret.key"
            path.write_text(legacy.read_text().strip() if legacy.is_file() else secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()


def environment_names(name: str) -> list[str]:
    """The environment variables one setting is read from, the first being the one to write."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    return [f"BANJIAN_{name.upper()}"]


def as_environment(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    """`base` (an environment) with every setting of `settings` written in: a child process started
    with it reads back equal settings (`Settings()`), whatever flags or defaults made them."""
    env = dict(base)
    for name in Settings.model_fields:
        names, value = environment_names(name), getattr(settings, name)
        for n in names:
            env.pop(n, None)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, Path):
            text = str(value.resolve())
        else:
            text = str(value)
        env[names[0]] = text
    return env
