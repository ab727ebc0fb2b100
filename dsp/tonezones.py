"""Call progress tones per country, as data. To add a country, add one entry to ZONES.

Each tone is a list of steps played in order and repeated (unless ``"once": True``):
a step is ``(frequencies_hz, duration_ms)``; an empty frequency tuple is silence;
duration ``None`` (only for a single step) means continuous. ``level`` is the level
of EACH frequency component in dBm0 (spandsp convention, 0 dBm0 sine = 32767 * 10^(-3.14/20)).
Optional per tone: ``levels`` (a tuple, one level per frequency, overriding ``level``).

Sources: ITU-T E.180 supplement 2 (national tones), YD/T 1090 / GB 3380 practice for China
(450 Hz, -10 dBm0), Telcordia GR-506 for the US precise tones, ETSI ES 201 970 /
TR 101 041 recommendations for the ETSI defaults. The SIT for zones without a national one
is the ITU-T E.180 / ETSI sequence 950 / 1400 / 1800 Hz, 330 ms each, 1 s silence.
"""

from typing import Any

ETSI_SIT = [((950,), 330), ((1400,), 330), ((1800,), 330), ((), 1000)]

ZONES: dict[str, dict[str, Any]] = {
    "cn": {
        "description": "China",
        "tones": {
            "dial": {"steps": [((450,), None)], "level": -10},
            "busy": {"steps": [((450,), 350), ((), 350)], "level": -10},
            "ringback": {"steps": [((450,), 1000), ((), 4000)], "level": -10},
            "congestion": {"steps": [((450,), 700), ((), 700)], "level": -10},
            "callwaiting": {"steps": [((450,), 400), ((), 4000)], "level": -10},
            "sit": {"steps": ETSI_SIT, "level": -14},
        },
    },
    "us": {
        "description": "United States / North America (precise tones)",
        "tones": {
            "dial": {"steps": [((350, 440), None)], "level": -13},
            "busy": {"steps": [((480, 620), 500), ((), 500)], "level": -24},
            "ringback": {"steps": [((440, 480), 2000), ((), 4000)], "level": -19},
            "congestion": {"steps": [((480, 620), 250), ((), 250)], "level": -24},
            "callwaiting": {"steps": [((440,), 300), ((), 9700)], "level": -13},
            "sit": {"steps": [((913.8,), 274), ((1370.6,), 274), ((1776.7,), 380), ((), 4000)], "level": -24},
        },
    },
    "gb": {
        "description": "United Kingdom",
        "tones": {
            "dial": {"steps": [((350, 440), None)], "level": -19},
            "busy": {"steps": [((400,), 375), ((), 375)], "level": -19},
            "ringback": {"steps": [((400, 450), 400), ((), 200), ((400, 450), 400), ((), 2000)], "level": -19},
            "congestion": {"steps": [((400,), 400), ((), 350), ((400,), 225), ((), 525)], "level": -19},
            "callwaiting": {"steps": [((400,), 100), ((), 3000)], "level": -19},
            "sit": {"steps": ETSI_SIT, "level": -19},
        },
    },
    "de": {
        "description": "Germany",
        "tones": {
            "dial": {"steps": [((425,), None)], "level": -10},
            "busy": {"steps": [((425,), 480), ((), 480)], "level": -10},
            "ringback": {"steps": [((425,), 1000), ((), 4000)], "level": -10},
            "congestion": {"steps": [((425,), 240), ((), 240)], "level": -10},
            "callwaiting": {"steps": [((425,), 200), ((), 200), ((425,), 200), ((), 5000)], "level": -10},
            "sit": {"steps": [((900,), 330), ((1400,), 330), ((1800,), 330), ((), 1000)], "level": -14},
        },
    },
    "etsi": {
        "description": "ETSI ES 201 970 recommended defaults",
        "tones": {
            "dial": {"steps": [((425,), None)], "level": -10},
            "busy": {"steps": [((425,), 500), ((), 500)], "level": -10},
            "ringback": {"steps": [((425,), 1000), ((), 4000)], "level": -10},
            "congestion": {"steps": [((425,), 250), ((), 250)], "level": -10},
            "callwaiting": {"steps": [((425,), 200), ((), 600), ((425,), 200), ((), 3000)], "level": -10},
            "sit": {"steps": ETSI_SIT, "level": -14},
        },
    },
}

# Tones every zone's call progress detector also listens for (fax and modem answer tones).
COMMON_TONES: dict[str, dict[str, Any]] = {
    "fax_cng": {"steps": [((1100,), 500), ((), 3000)], "level": -10},
    "fax_ced": {"steps": [((2100,), 3300), ((), 100)], "level": -10, "once": True},
}
