"""SIP settings from the configuration file: sip_listen, trunks as [[sip_trunks]] tables, credentials and
codecs; empty sip_listen turns SIP off; bad values give clear errors."""
import pytest

from trunkline.app.server import StartupSummary, sip_settings
from trunkline.data.config import load_config

TOML = """
sip_listen = "127.0.0.1:5999"
sip_channels = 12
sip_codecs = ["PCMU"]
sip_users = { carrier = "pw1" }
sip_open_numbers = ["95588", "95589"]

[[sip_trunks]]
name = "carrier"
host = "sip.example.net"
username = "0105551234"
password = "s3"
register = true
transport = "tcp"
codecs = ["PCMA"]

[[sip_trunks]]
name = "pbx"
host = "10.0.0.5"
inbound_auth = true
username = "pbx"
password = "pw2"
"""


def test_sip_settings_from_toml(tmp_path):
    path = tmp_path / "trunkline.toml"
    path.write_text(TOML)
    summary = StartupSummary()
    st = sip_settings(load_config(str(path), env={}), summary)
    assert st is not None and (st.host, st.port, st.channels) == ("127.0.0.1", 5999, 12)
    assert st.codecs == ["PCMU"] and st.users == {"carrier": "pw1"} and st.open_numbers == ["95588", "95589"]
    carrier, pbx = st.trunks
    assert (carrier.register, carrier.transport, carrier.codecs) == (True, "TCP", ["PCMA"])
    assert pbx.inbound_auth and pbx.username == "pbx"
    assert any("SIP" in line and "carrier, pbx" in line for line in summary.lines)


def test_empty_sip_listen_turns_sip_off_and_bad_values_are_refused(tmp_path):
    summary = StartupSummary()
    assert sip_settings(load_config(None, env={"TRUNKLINE_SIP_LISTEN": ""}), summary) is None
    assert any("OFF" in line and "sip_listen" in line for line in summary.lines)
    with pytest.raises(ValueError, match="host:port"):
        sip_settings(load_config(None, env={"TRUNKLINE_SIP_LISTEN": "5070"}), StartupSummary())
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sip_trunks]]\nname = "x"\nregister = true\n')
    with pytest.raises(ValueError, match="register needs host"):
        sip_settings(load_config(str(bad), env={}), StartupSummary())
    bad.write_text('[[sip_trunks]]\nname = "x"\nhots = "typo"\n')
    with pytest.raises(ValueError, match="unknown keys"):
        sip_settings(load_config(str(bad), env={}), StartupSummary())


def test_sip_t38_setting(tmp_path):
    """sip_t38 (default on) reaches the SIP settings and the start-up summary; off: audio fax only."""
    summary = StartupSummary()
    st = sip_settings(load_config(None, env={}), summary)
    assert st is not None and st.t38 and any("fax: T.38 first" in line for line in summary.lines)
    path = tmp_path / "t.toml"
    path.write_text("sip_t38 = false\n")
    summary = StartupSummary()
    st = sip_settings(load_config(str(path), env={}), summary)
    assert st is not None and not st.t38 and any("fax: audio only" in line for line in summary.lines)
    path.write_text('sip_t38_trigger = "tones"\n')
    assert sip_settings(load_config(str(path), env={}), StartupSummary()).t38_trigger == "tones"
    path.write_text('sip_t38_trigger = "ced"\n')
    with pytest.raises(ValueError, match="sip_t38_trigger"):
        sip_settings(load_config(str(path), env={}), StartupSummary())
