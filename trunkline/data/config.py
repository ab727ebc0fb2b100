"""Server configuration: defaults, an optional TOML file, then TRUNKLINE_* environment variables."""
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Config:
    """Everything `trunkline run` needs; all paths relative to var_dir unless absolute."""
    var_dir: str = "var"
    db_url: str = ""                       # default: sqlite file in var_dir
    board_url: str = "sim://default"
    trunk_signaling: str = "pri"           # E1/T1 spans: "pri" or "r2"
    zone: str = "cn"                       # tone zone
    language: str = "en"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_allow: str = "127.0.0.1/32 ::1/128"   # client networks GET /metrics is served to ("" = nobody)
    demo_callers: bool = True              # simulated callers arriving at the demo hotline
    demo_interval: float = 5.0             # mean seconds between simulated callers
    realtime: bool = True
    browser_phones: int = 8                # WebRTC station ports for agents who sign in with "this browser"
    gsm_port: str = ""                     # serial port of a GSM modem for SMS (simulated modem on sim://)

    @property
    def prompts_dir(self) -> str:
        """Where prompts (generated and uploaded) live."""
        return os.path.join(self.var_dir, "prompts")

    @property
    def recordings_dir(self) -> str:
        """Where call recordings and voicemail are written."""
        return os.path.join(self.var_dir, "recordings")

    @property
    def fax_dir(self) -> str:
        """Where received and sent faxes (TIFF-F) live."""
        return os.path.join(self.var_dir, "fax")

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
        setattr(cfg, name, value)
    return cfg
