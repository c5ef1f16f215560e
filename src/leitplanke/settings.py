"""Settings of the service and the database commands, read once from the environment.

The only module that reads environment variables; ``load_settings`` is called at the edges
(``cli/``) and the result passed down (``service.create_app(settings)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from leitplanke.core.problems import UsageError

if TYPE_CHECKING:
    from leitplanke.alerts import targets as alert_targets
    from leitplanke.insights import reportschedules

DEFAULT_SLA_DAYS: Mapping[str, int] = {"critical": 15, "high": 30, "medium": 90, "low": 180}
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///./data/leitplanke.db"
    data_dir: Path = Path("./data")
    # remediation deadline per severity, in days from first seen; info findings have none
    sla_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_DAYS))
    max_waiver_days: int = 90
    # largest request body the API reads, on the wire and decompressed: a compact upload
    # (leitplanke.dev/upload/v2) of 10,000 resources is about 40 MB, 2 MB gzipped
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    migrate_on_start: bool = True
    # how often the service expires due waivers (each ingestion expires them as well)
    waiver_expiry_seconds: float = 60.0
    # where alerts go (LEITPLANKE_ALERT_TARGETS as JSON, or a file: LEITPLANKE_ALERT_TARGETS_FILE);
    # without targets no dispatcher runs
    alert_targets: tuple[alert_targets.Target, ...] = ()
    # categories whose new findings alert whatever their severity (LEITPLANKE_ALERT_CATEGORIES, comma
    # separated; empty: none); new critical findings alert in any case
    alert_categories: tuple[str, ...] = ("drift",)
    # the service's address as its users reach it, for the links in alerts
    public_url: str = "http://127.0.0.1:8080"
    # the dispatcher: how often it looks for due alerts, the first retry delay (doubled per attempt, up to
    # the cap) and the attempts before an alert is given up
    alert_poll_seconds: float = 2.0
    alert_retry_seconds: float = 5.0
    alert_retry_max_seconds: float = 3600.0
    alert_max_attempts: int = 12
    # a waiver is announced as about to expire this many days ahead
    alert_waiver_expiry_days: int = 7
    # the audit chain's HMAC key (hex), the Ed25519 key that signs its checkpoints (PEM) and where the
    # checkpoints go: all outside the database, created (0600) on first use when missing
    audit_key_file: Path = Path("./data/audit/hmac.key")
    audit_signing_key_file: Path = Path("./data/audit/signing-key.pem")
    audit_checkpoint_dir: Path = Path("./data/audit/checkpoints")
    # delivery webhooks: the shared secret of HMAC-signed events (Flux's generic-hmac provider; empty:
    # only API tokens are accepted), local clones of app repositories (<dir>/<app>) for commit times,
    # and the environment whose deployments the DORA figures count
    delivery_webhook_secret: str = field(default="", repr=False)
    delivery_git_mirrors: Path | None = None
    dora_environment: str = "prod"
    # KPI targets of the scorecard (insights.kpis.parse_targets); None: the built-in targets
    kpi_file: Path | None = None
    # the Prometheus of runtime insights (leaks, cost): its address and a bearer token or basic auth
    prometheus_url: str = ""
    prometheus_token: str = field(default="", repr=False)
    prometheus_user: str = ""
    prometheus_password: str = field(default="", repr=False)
    # reports by e-mail (leitplanke report --mail-to): the sender, STARTTLS and an optional login
    mail_from: str = "leitplanke@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    # the SMTP server of scheduled reports, HOST:PORT (LEITPLANKE_SMTP; empty: none); ``report --smtp``'s
    # default too
    smtp_server: str = ""
    # reports the service sends itself (LEITPLANKE_REPORT_SCHEDULES as YAML, or a file:
    # LEITPLANKE_REPORT_SCHEDULES_FILE); how often the scheduler looks for due runs, how late a run may
    # still go out (a firing missed by more while no replica ran is skipped), and the retries
    report_schedules: tuple[reportschedules.Schedule, ...] = ()
    report_poll_seconds: float = 30.0
    report_lateness_seconds: float = 3600.0
    report_retry_seconds: float = 60.0
    report_max_attempts: int = 5
    # OIDC sign-in for the portal (off without an issuer): the provider, this client, the claim naming the
    # user and the groups claim whose first mapped group gives the role and team (group -> (role, team))
    oidc: OidcSettings | None = None


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_url: str
    provider_name: str = "OIDC"
    user_claim: str = "preferred_username"
    groups_claim: str = "groups"
    group_roles: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``LEITPLANKE_*`` variables (``environ`` defaults to the process environment)."""
    env = os.environ if environ is None else environ
    data_dir = env.get("LEITPLANKE_DATA_DIR", "./data").rstrip("/") or "/"
    url = env.get("LEITPLANKE_DATABASE_URL") or f"sqlite:///{data_dir}/leitplanke.db"
    sla = dict(DEFAULT_SLA_DAYS)
    for severity in DEFAULT_SLA_DAYS:
        name = f"LEITPLANKE_SLA_{severity.upper()}_DAYS"
        if name in env:
            sla[severity] = _positive(name, env[name])
    return Settings(
        database_url=url,
        data_dir=Path(data_dir),
        sla_days=sla,
        max_waiver_days=_positive("LEITPLANKE_MAX_WAIVER_DAYS", env.get("LEITPLANKE_MAX_WAIVER_DAYS", "90")),
        max_body_bytes=_positive(
            "LEITPLANKE_MAX_BODY_BYTES", env.get("LEITPLANKE_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))
        ),
        migrate_on_start=env.get("LEITPLANKE_MIGRATE_ON_START", "true").lower() not in ("0", "false", "no"),
        waiver_expiry_seconds=_positive(
            "LEITPLANKE_WAIVER_EXPIRY_SECONDS", env.get("LEITPLANKE_WAIVER_EXPIRY_SECONDS", "60")
        ),
        alert_targets=_alert_targets(env),
        alert_categories=tuple(
            part.strip()
            for part in env.get("LEITPLANKE_ALERT_CATEGORIES", "drift").split(",")
            if part.strip()
        ),
        public_url=env.get("LEITPLANKE_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
        audit_key_file=Path(env.get("LEITPLANKE_AUDIT_KEY_FILE") or f"{data_dir}/audit/hmac.key"),
        audit_signing_key_file=Path(
            env.get("LEITPLANKE_AUDIT_SIGNING_KEY_FILE") or f"{data_dir}/audit/signing-key.pem"
        ),
        audit_checkpoint_dir=Path(
            env.get("LEITPLANKE_AUDIT_CHECKPOINT_DIR") or f"{data_dir}/audit/checkpoints"
        ),
        delivery_webhook_secret=env.get("LEITPLANKE_DELIVERY_WEBHOOK_SECRET", ""),
        delivery_git_mirrors=Path(mirrors) if (mirrors := env.get("LEITPLANKE_GIT_MIRRORS")) else None,
        dora_environment=env.get("LEITPLANKE_DORA_ENVIRONMENT", "prod") or "prod",
        kpi_file=Path(env["LEITPLANKE_KPI_FILE"]) if env.get("LEITPLANKE_KPI_FILE") else None,
        prometheus_url=env.get("LEITPLANKE_PROMETHEUS_URL", ""),
        prometheus_token=env.get("LEITPLANKE_PROMETHEUS_TOKEN", ""),
        prometheus_user=env.get("LEITPLANKE_PROMETHEUS_USER", ""),
        prometheus_password=env.get("LEITPLANKE_PROMETHEUS_PASSWORD", ""),
        mail_from=env.get("LEITPLANKE_MAIL_FROM", "leitplanke@localhost"),
        smtp_starttls=env.get("LEITPLANKE_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
        smtp_username=env.get("LEITPLANKE_SMTP_USERNAME", ""),
        smtp_password=env.get("LEITPLANKE_SMTP_PASSWORD", ""),
        smtp_server=_smtp_server(env.get("LEITPLANKE_SMTP", "")),
        report_schedules=_report_schedules(env),
        report_poll_seconds=_positive(
            "LEITPLANKE_REPORT_POLL_SECONDS", env.get("LEITPLANKE_REPORT_POLL_SECONDS", "30")
        ),
        report_lateness_seconds=_positive(
            "LEITPLANKE_REPORT_LATENESS_SECONDS", env.get("LEITPLANKE_REPORT_LATENESS_SECONDS", "3600")
        ),
        report_retry_seconds=_positive(
            "LEITPLANKE_REPORT_RETRY_SECONDS", env.get("LEITPLANKE_REPORT_RETRY_SECONDS", "60")
        ),
        report_max_attempts=_positive(
            "LEITPLANKE_REPORT_MAX_ATTEMPTS", env.get("LEITPLANKE_REPORT_MAX_ATTEMPTS", "5")
        ),
        oidc=_oidc(env),
    )


def cache_directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the engine keeps compiled CEL between runs: ``$LEITPLANKE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/leitplanke``, else ``~/.cache/leitplanke``; ``LEITPLANKE_CACHE_DIR=off``
    (or empty) keeps nothing. The CLI passes it to ``compiling.build_environment(cache=...)``."""
    env = os.environ if environ is None else environ
    configured = env.get("LEITPLANKE_CACHE_DIR")
    if configured is not None:
        return None if configured in ("", "off") else Path(configured)
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leitplanke"


@dataclass(frozen=True, slots=True)
class Display:
    """What the environment says about the terminal: ``COLUMNS`` and ``NO_COLOR`` (no-color.org)."""

    columns: int | None = None  # None: unset, empty or not a number above zero
    no_color: bool = False


def load_display(environ: Mapping[str, str] | None = None) -> Display:
    """``COLUMNS`` as a width when it is a whole number above zero; ``NO_COLOR`` set and not empty."""
    env = os.environ if environ is None else environ
    text = env.get("COLUMNS", "").strip()
    columns = int(text) if text.isdigit() and int(text) > 0 else None
    return Display(columns=columns, no_color=bool(env.get("NO_COLOR")))


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}={text!r}: expected a whole number") from None
    if value <= 0:
        raise UsageError(f"{name}={text!r}: expected a number above zero")
    return value


def _alert_targets(env: Mapping[str, str]) -> tuple[alert_targets.Target, ...]:
    # imported here: the CLI reads the cache folder from this module on every scan, and the alert
    # senders (urllib, email) cost ~30 ms of start-up it does not need
    from leitplanke.alerts import targets as alert_targets

    if env.get("LEITPLANKE_ALERT_TARGETS"):
        return alert_targets.parse_targets(env["LEITPLANKE_ALERT_TARGETS"])
    path = env.get("LEITPLANKE_ALERT_TARGETS_FILE")
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or exc
        raise UsageError(f"LEITPLANKE_ALERT_TARGETS_FILE={path!r}: cannot read: {reason}") from None
    return alert_targets.parse_targets(text, source=path)


def _smtp_server(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if text and (not sep or not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise UsageError(f"LEITPLANKE_SMTP={text!r}: expected HOST:PORT")
    return text


def _report_schedules(env: Mapping[str, str]) -> tuple[reportschedules.Schedule, ...]:
    # imported here, as the alert targets are: most commands never need them
    from leitplanke.insights import reportschedules

    if env.get("LEITPLANKE_REPORT_SCHEDULES"):
        text, source = env["LEITPLANKE_REPORT_SCHEDULES"], "LEITPLANKE_REPORT_SCHEDULES"
    elif path := env.get("LEITPLANKE_REPORT_SCHEDULES_FILE"):
        try:
            text, source = Path(path).read_text(encoding="utf-8"), path
        except OSError as exc:
            reason = exc.strerror or exc
            raise UsageError(f"LEITPLANKE_REPORT_SCHEDULES_FILE={path!r}: cannot read: {reason}") from None
    else:
        return ()
    try:
        schedules = reportschedules.parse_schedules(text, source=source)
    except reportschedules.ScheduleError as exc:
        raise UsageError(str(exc), problems=exc.problems) from None
    mailing = [s.name for s in schedules if s.mail_to]
    if mailing and not env.get("LEITPLANKE_SMTP"):
        raise UsageError(
            f"{source}: schedules {', '.join(mailing)} send mail: LEITPLANKE_SMTP (HOST:PORT) is unset"
        )
    return schedules


def _oidc(env: Mapping[str, str]) -> OidcSettings | None:
    """``LEITPLANKE_OIDC_*``: None without an issuer; the client id, secret and redirect URL are needed
    with one. ``LEITPLANKE_OIDC_GROUP_ROLES`` is JSON: ``{"group": ["role", "team" or null], ...}``."""
    issuer = env.get("LEITPLANKE_OIDC_ISSUER", "").rstrip("/")
    if not issuer:
        return None
    names = ("CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URL")
    needed = {name: env.get(f"LEITPLANKE_OIDC_{name}", "") for name in names}
    for name, value in needed.items():
        if not value:
            raise UsageError(f"LEITPLANKE_OIDC_{name}: needed with LEITPLANKE_OIDC_ISSUER")
    for name, url in (("ISSUER", issuer), ("REDIRECT_URL", needed["REDIRECT_URL"])):
        if not _secure_url(url):
            raise UsageError(f"LEITPLANKE_OIDC_{name}={url!r}: expected an https URL (http only on loopback)")
    return OidcSettings(
        issuer=issuer,
        client_id=needed["CLIENT_ID"],
        client_secret=needed["CLIENT_SECRET"],
        redirect_url=needed["REDIRECT_URL"],
        provider_name=env.get("LEITPLANKE_OIDC_PROVIDER_NAME", "") or "OIDC",
        user_claim=env.get("LEITPLANKE_OIDC_USER_CLAIM", "") or "preferred_username",
        groups_claim=env.get("LEITPLANKE_OIDC_GROUPS_CLAIM", "") or "groups",
        group_roles=_group_roles(env.get("LEITPLANKE_OIDC_GROUP_ROLES", "{}")),
    )


def _secure_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return bool(parts.hostname) and (parts.scheme == "https" or (parts.scheme == "http" and loopback))


def _group_roles(text: str) -> dict[str, tuple[str, str | None]]:
    import json

    name = "LEITPLANKE_OIDC_GROUP_ROLES"
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{name}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UsageError(f'{name}: expected an object {{"group": ["role", "team" or null]}}')
    roles: dict[str, tuple[str, str | None]] = {}
    for group, pair in raw.items():
        valid = isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
        if not valid or not (pair[1] is None or isinstance(pair[1], str)):
            raise UsageError(f'{name}: group {group!r}: expected ["role", "team" or null]')
        roles[group] = (pair[0], pair[1] or None)
    return roles
