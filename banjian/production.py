"""Production mode (BANJIAN_ENV=production): what must hold before a server process starts.

`problems(settings)` lists every reason to refuse; the CLI prints the first as one line and exits
non-zero. Checked: a token-signing secret, a progress-code key apart from it, and payload keys given in the settings (not generated in
the data dir, not a known default or a weak key), TLS settings for Temporal, and no simulation clock.
"""
from __future__ import annotations

import hmac

from banjian.codec import parse_keys
from banjian.crypto import CryptoError
from banjian.licence_store import DEFAULT_MASTER_KEY
from banjian.settings import Settings

#: Secrets that appear in documentation, samples and tests: never acceptable in production.
DEFAULT_SECRETS = frozenset({"", "secret", "changeme", "change-me", "banjian", "banjian-demo", "password",
                             "development", "dev", "test", "insecure"})
MIN_SECRET_LENGTH = 32


def _weak_key(key: bytes) -> bool:
    return len(set(key)) < 4  # all zero, one repeated byte, …


def problems(settings: Settings) -> list[str]:
    """Every reason production mode refuses these settings (empty: fine, or not production)."""
    if not settings.production:
        return []
    out = []
    secret = settings.token_secret
    if not secret:
        out.append("BANJIAN_TOKEN_SECRET is not set (a generated token-signing key is refused in production)")
    elif secret.strip().lower() in DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8:
        out.append(f"BANJIAN_TOKEN_SECRET is a default or weak value (use at least {MIN_SECRET_LENGTH} random "
                   "characters)")
    progress = settings.progress_secret
    if not progress or progress.strip().lower() in DEFAULT_SECRETS or len(progress) < MIN_SECRET_LENGTH \
            or len(set(progress)) < 8:
        out.append("BANJIAN_PROGRESS_SECRET is not set or weak (the key of the progress codes printed on case "
                   f"notices, at least {MIN_SECRET_LENGTH} random characters)")
    elif secret and hmac.compare_digest(progress.encode(), secret.encode()):
        out.append("BANJIAN_PROGRESS_SECRET equals BANJIAN_TOKEN_SECRET (one key for two purposes: rotating the "
                   "token key would void every printed progress code)")
    if not settings.payload_keys:
        out.append("BANJIAN_PAYLOAD_KEYS is not set (generated payload keys are refused in production)")
    else:
        try:
            keys = parse_keys(settings.payload_keys)
            if any(_weak_key(k) for k in keys.values()):
                out.append("BANJIAN_PAYLOAD_KEYS holds a weak key (all bytes alike)")
            if settings.payload_key_id and settings.payload_key_id not in keys:
                out.append(f"BANJIAN_PAYLOAD_KEY_ID {settings.payload_key_id} is not among BANJIAN_PAYLOAD_KEYS")
        except CryptoError as e:
            out.append(e.message_en)
    if not settings.temporal_address:
        out.append("TEMPORAL_ADDRESS is not set (the embedded development server is not for production)")
    if not settings.temporal_tls_on:
        out.append("no TLS settings for Temporal (set BANJIAN_TEMPORAL_TLS=1, or BANJIAN_TEMPORAL_TLS_CA / "
                   "BANJIAN_TEMPORAL_TLS_CERT and BANJIAN_TEMPORAL_TLS_KEY)")
    elif bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        out.append("BANJIAN_TEMPORAL_TLS_CERT and BANJIAN_TEMPORAL_TLS_KEY go together")
    for name in ("temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            out.append(f"BANJIAN_{name.upper()} {path} is not a readable file")
    if settings.simulation:
        out.append("the simulation clock (BANJIAN_SIMULATION) is on")
    pay = settings.payment_secret
    if not pay or pay.strip().lower() in DEFAULT_SECRETS or len(pay) < MIN_SECRET_LENGTH:
        out.append("BANJIAN_PAYMENT_SECRET is not set or weak (the payment provider's callback secret, at least "
                   f"{MIN_SECRET_LENGTH} characters)")
    if settings.licence_issue_hold is not None:
        out.append("the test hook BANJIAN_LICENCE_ISSUE_HOLD is set")
    if not settings.licence_master_key or settings.licence_master_key.lower() == DEFAULT_MASTER_KEY \
            or _weak_key(bytes.fromhex(settings.licence_master_key)):
        out.append("BANJIAN_LICENCE_MASTER_KEY is not set or is the default or a weak key (it encrypts the "
                   "departments' e-licence signing keys)")
    return out


def refusal(settings: Settings) -> str | None:
    """One line saying why production mode will not start, or None."""
    found = problems(settings)
    return f"production mode refuses to start: {'; '.join(found)}" if found else None
