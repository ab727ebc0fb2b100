"""Server configuration: defaults, an optional TOML file, then TRUNKLINE_* environment variables."""
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Config:
    """Everything `trunkline run` needs; all paths relative to var_dir unless absolute."""
    var_dir: str = "var"
    db_url: str = ""                       # default: sqlite file in var_dir
    board_url: str = "sim://default"
    trunk_signaling: str = "pri"           # E1/T1 spans: "pri", "r2" or "ss7" (China No.7, E1 only)
    ss7_opc: str = "1-1-1"                 # SS7: our point code (8-8-8 for china24, 3-8-3 for itu14, or decimal)
    ss7_dpc: str = "2-2-2"                 # SS7: the adjacent exchange's point code
    ss7_pc_format: str = "china24"         # SS7: "china24" (24-bit national) or "itu14"
    ss7_cic_base: int = 0                  # SS7: CIC = base + 32 * E1 position + timeslot
    ss7_signaling_slot: int = 16           # SS7: the E1 timeslot carrying the signaling link
    zone: str = "cn"                       # tone zone
    language: str = "en"
    timezone: str = ""                     # IANA zone of times shown and report days ("": Asia/Shanghai in zone cn)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_allow: str = "127.0.0.1/32 ::1/128"   # client networks GET /metrics is served to ("" = nobody)
    demo_callers: bool = True              # simulated callers arriving at the demo hotline
    demo_interval: float = 5.0             # mean seconds between simulated callers
    realtime: bool = True
    tts_command: str = ""                  # TTS command line ({out} {voice} {lang}, text on stdin); "" = espeak-ng
    recording_retention_days: float = 0.0  # delete recordings older than this (0 = keep)
    cdr_retention_days: float = 0.0        # delete CDRs older than this (0 = keep)
    recordings_quota_mb: float = 0.0       # keep recordings under this many MB, oldest deleted first (0 = none)
    retention_interval: float = 3600.0     # seconds between retention passes
    voicemail_retention_days: float = 0.0  # delete voicemail older than this (0 = keep) ...
    voicemail_quota_mb: float = 0.0        # ... and keep voicemail files under this many MB (0 = none) ...
    voicemail_unheard_days: float = 30.0   # ... but never an unheard message younger than this
    browser_phones: int = 8                # WebRTC station ports for agents who sign in with "this browser"
    gsm_port: str = ""                     # serial port of a GSM modem for SMS (simulated modem on sim://)
    # SIP span next to the board's channels: "host:port" for UDP and TCP, "" = SIP off
    sip_listen: str = "127.0.0.1:5070"
    sip_channels: int = 30
    sip_rtp_port_base: int = 0             # RTP port pairs from here up (0: any free ports)
    sip_rtp_streams_per_socket: int = 16   # calls sharing one RTP socket (demultiplexed by address/SSRC; 1: own)
    sip_realm: str = "trunkline"
    sip_codecs: list[str] = field(default_factory=lambda: ["PCMA", "PCMU"])
    sip_open_numbers: list[str] = field(default_factory=lambda: ["95588"])   # callable without auth ...
    sip_open_sources: list[str] = field(default_factory=lambda: ["127.0.0.0/8"])   # ... from these networks
    sip_users: dict[str, str] = field(default_factory=dict)   # user -> password for INVITEs from elsewhere
    sip_trunks: list[dict[str, Any]] = field(default_factory=list)   # [[sip_trunks]] tables: SipTrunk fields
    sip_t38: bool = True                   # fax on SIP calls: T.38 offered and accepted (off: audio fax, 488)
    sip_t38_trigger: str = "job"           # re-INVITE to T.38 at the fax job's start, or on "tones" (CED/V.21)
    # nodes linked over SIP (one shared PostgreSQL ACD): this node's name (its ACD instance; "": not linked)
    # and the other nodes' SIP addresses, name -> "host:port" (environment: "b=10.0.0.2:5070,c=...")
    node_name: str = ""
    nodes: dict[str, str] = field(default_factory=dict)
    overload_load: float = 0.8             # tick load (share of the 20 ms block) above which new calls get cause 42
    drain_seconds: float = 30.0            # SIGTERM/SIGINT: how long calls in progress may take to finish
    interim_seconds: float = 10.0          # how often the interim records of calls in progress are saved
    https: bool = False                    # the web admin is reached over TLS (a TLS proxy): Secure cookie + HSTS
    trust_proxy: bool = False              # take the client address from the proxy's X-Forwarded-For

    smtp_host: str = ""                    # SMTP server voicemail and fax e-mails go through ("" = no e-mail)
    smtp_port: int = 25
    smtp_user: str = ""                    # login, when the server wants one
    smtp_password: str = ""
    smtp_from: str = "trunkline@localhost"
    smtp_starttls: bool = False            # STARTTLS before login
    mail_max_attempts: int = 8             # delivery attempts before an e-mail is given up (failed)
    mail_retry_seconds: float = 30.0       # first retry delay (s); doubled per attempt, at most one hour

    @property
    def local_zone(self) -> str:
        """The IANA time zone the web admin shows times in (the setting, else by tone zone)."""
        return self.timezone or ("Asia/Shanghai" if self.zone == "cn" else "UTC")

    @property
    def prompts_dir(self) -> str:
        """Where prompts (generated and uploaded) live."""
        return os.path.join(self.var_dir, "prompts")

    @property
    def recordings_dir(self) -> str:
        """Where call recordings and voicemail are written."""
        return os.path.join(self.var_dir, "recordings")

    @property
    def voicemail_dir(self) -> str:
        """Where voicemail messages are spooled (served to the web admin's Play buttons)."""
        return os.path.join(self.var_dir, "voicemail")

    @property
    def fax_dir(self) -> str:
        """Where received and sent faxes (TIFF-F) live."""
        return os.path.join(self.var_dir, "fax")

    def signaling_options(self) -> dict[str, Any]:
        """Options for the E1 signaling stack (SS7 point codes, CIC base, signaling timeslot); {} for PRI/R2."""
        if self.trunk_signaling != "ss7":
            return {}
        return {"opc": self.ss7_opc, "dpc": self.ss7_dpc, "pc_format": self.ss7_pc_format,
                "cic_base": self.ss7_cic_base, "signaling_slot": self.ss7_signaling_slot}

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL (SQLite file in var_dir by default)."""
        return self.db_url or f"sqlite:///{os.path.abspath(os.path.join(self.var_dir, 'trunkline.db'))}"


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build a Config from defaults, a TOML file (if given or ./trunkline.toml exists) and the environment."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = path or env.get("TRUNKLINE_CONFIG") or ("trunkline.toml" if os.path.exists("trunkline.toml") else None)
    if path:
        with open(path, "rb") as f:
            values.update(tomllib.load(f))
    known = {f.name: f.type for f in fields(Config)}
    for name in known:
        key = "TRUNKLINE_" + name.upper()
        if key in env:
            values[name] = env[key]
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    cfg = Config()
    for name, value in values.items():
        default = getattr(cfg, name)
        if isinstance(default, bool) and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int) and not isinstance(default, bool):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
        elif isinstance(default, list) and isinstance(value, str):   # environment: comma-separated
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(default, dict) and isinstance(value, str):   # environment: name=value,name=value
            value = dict(part.strip().split("=", 1) for part in value.split(",") if "=" in part)
        elif isinstance(default, (list, dict)) and not isinstance(value, type(default)):
            raise ValueError(f"configuration key {name} must be a {type(default).__name__}")
        setattr(cfg, name, value)
    return cfg
