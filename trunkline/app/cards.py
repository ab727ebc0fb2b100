"""`trunkline cards`: the DAHDI spans and channels on this machine (like dahdi_scan / dahdi_tool):
span type, alarms, line counters, and each channel's signalling and law, as ranges."""
from trunkline.drivers.backends import dahdi_abi as abi
from trunkline.drivers.backends.dahdi import scan

ALARM_NAMES = ((abi.ALARM_RED, "RED"), (abi.ALARM_BLUE, "BLUE"), (abi.ALARM_YELLOW, "YELLOW"),
               (abi.ALARM_LOS, "LOS"), (1 << 0, "RECOVERING"), (1 << 1, "LOOPBACK"), (1 << 5, "NOTOPEN"))
SIG_NAMES = {abi.SIG_CLEAR: "clear (ISDN B)", abi.SIG_HDLCFCS: "hdlcfcs (D-channel)", abi.SIG_CAS: "cas (R2)",
             abi.SIG_FXSLS: "fxsls (FXO port)", abi.SIG_FXSKS: "fxsks (FXO port)",
             abi.SIG_FXOLS: "fxols (FXS port)", abi.SIG_FXOKS: "fxoks (FXS port)", 0: "unused"}


def alarm_text(alarms: int) -> str:
    """DAHDI alarm bits as words ("OK" when none)."""
    names = [name for bit, name in ALARM_NAMES if alarms & bit]
    return ",".join(names) if names else "OK"


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    for n in numbers:
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == n - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        elif out and "-" not in out[-1] and int(out[-1]) == n - 1:
            out[-1] = f"{out[-1]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


def format_cards(spans: list[dict[str, object]]) -> str:
    """The report `trunkline cards` prints for the spans of `drivers.backends.dahdi.scan()`."""
    lines = []
    for sp in spans:
        lines.append(f"span {sp['span']}: {sp['name']} \"{sp['desc']}\" type={sp['type']} "
                     f"alarms={alarm_text(int(str(sp['alarms'])))} channels={sp['numchans']}/{sp['totalchans']} "
                     f"configured")
        lines.append(f"  counters: bpv={sp['bpv']} crc4={sp['crc4']} fe={sp['fe']} cv={sp['cv']} be={sp['be']} "
                     f"errsec={sp['errsec']} irqmisses={sp['irqmisses']}  device: {sp['manufacturer']} "
                     f"{sp['devicetype']}")
        groups: dict[tuple[str, str], list[int]] = {}
        chans = sp["channels"]
        assert isinstance(chans, list)
        for ch in chans:
            key = (SIG_NAMES.get(int(ch["sigtype"]), hex(int(ch["sigtype"]))), str(ch["law"]))
            groups.setdefault(key, []).append(int(ch["channo"]))
        for (sig, law), numbers in groups.items():
            lines.append(f"  channels {_ranges(numbers)}: {sig}, {law}")
        if not sp["numchans"]:
            lines.append("  no configured channels: add the span to /etc/dahdi/system.conf and run dahdi_cfg")
    return "\n".join(lines)


def cards_report() -> str:
    """Scan /dev/dahdi and format it (raises DahdiError with what to do when DAHDI is absent)."""
    return format_cards(scan())
