"""`trunkline cards` on the emulated /dev/dahdi, and the clear errors of `cards` / `run --board dahdi://`
when DAHDI is absent."""
from trunkline.app.cli import main
from trunkline.hw_sim import forget_card, open_card
from trunkline.hw_sim.dahdi_emu import EmulatedDahdi


def test_cards_lists_spans_channels_signalling_alarms(capsys):
    forget_card("cards")
    card = open_card("sim://cards?e1=1&fxo=2&fxs=2")
    emu = EmulatedDahdi(card, "pri")
    try:
        card.far_set_alarm(0, 1)
        assert main(["cards"]) == 0
        out = capsys.readouterr().out
    finally:
        emu.close()
        forget_card("cards")
    print(out)
    assert 'span 1: TLSIM/1 "TLSIM E1 span 1" type=E1 alarms=RED,LOS channels=31/31' in out
    assert "channels 1-15,17-31: clear (ISDN B), alaw" in out and "channels 16: hdlcfcs (D-channel), alaw" in out
    assert "channels 32-33: fxsks (FXO port), alaw" in out and "channels 34-35: fxoks (FXS port), alaw" in out
    assert "span 2:" in out and "alarms=OK" in out and "counters: bpv=0" in out


def test_cards_and_run_without_dahdi_say_what_to_do(capsys):
    assert main(["cards"]) == 1
    assert "DAHDI is not loaded" in capsys.readouterr().err
    assert main(["run", "--board", "dahdi://"]) == 2          # before any database or port is touched
    assert "trunkline run: cannot use dahdi://: /dev/dahdi/ctl: No such file or directory: DAHDI is not loaded" \
        in capsys.readouterr().err
