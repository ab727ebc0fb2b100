"""The demo hotline: greeting, a three-choice menu, digit collection, goodbye.

Its prompts are generated at first start into the prompt directory: spoken by
espeak-ng when it is installed, else synthesised tone patterns (nothing binary
is committed that this code cannot regenerate).
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from trunkline.dsp.constants import RATE
from trunkline.media.call import Call
from trunkline.media.errors import Timeout
from trunkline.media.prompts import load_audio

DEMO_PROMPTS = {
    "welcome": "Welcome to the Trunkline demo hotline.",
    "menu": "For your account balance press 1. To leave a message press 2. For the time press 3.",
    "enter_account": "Please enter your six digit account number, then press the hash key.",
    "you_entered": "You entered",
    "balance": "Your balance is one hundred and twenty yuan.",
    "record_message": "Please leave a short message after the tone.",
    "thanks_message": "Thank you, your message was saved.",
    "time_is": "Our service hours are eight to eight, seven days a week.",
    "invalid": "Sorry, that is not a valid choice.",
    "no_input": "Sorry, I did not hear your choice.",
    "goodbye": "Thank you for calling. Goodbye.",
}
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def synth_tones(text: str) -> np.ndarray:
    """A tone pattern standing in for speech when no TTS is installed: one 80 ms chirp per word."""
    words = text.split()
    t = np.arange(int(0.08 * RATE)) / RATE
    parts = []
    for w in words:
        f = 400 + 40 * (sum(map(ord, w)) % 15)
        parts.append((6000 * np.sin(2 * np.pi * f * t)).astype(np.int16))
        parts.append(np.zeros(int(0.04 * RATE), dtype=np.int16))
    return np.concatenate(parts)


def _speak(text: str, voice: str = "en") -> np.ndarray | None:
    """8 kHz int16 speech for text via espeak-ng, or None when espeak-ng is missing or fails."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        # the text goes on stdin, never as an argument espeak-ng could parse as an option (-f FILE ...)
        r = subprocess.run([exe, "-v", voice, "-s", "170", "-w", tmp.name, "--stdin"], input=text.encode(),
                           capture_output=True)
        if r.returncode != 0:
            return None
        return load_audio(tmp.name)


def ensure_demo_prompts(directory: str, language: str = "en") -> str:
    """Create the demo prompts (and digit words) in directory/<language>/ if missing; returns the folder."""
    folder = os.path.join(directory, language)
    os.makedirs(folder, exist_ok=True)
    texts = dict(DEMO_PROMPTS)
    texts.update({f"digit_{i}": w for i, w in enumerate(DIGIT_WORDS)})
    for name, text in texts.items():
        path = os.path.join(folder, name + ".wav")
        if os.path.exists(path):
            continue
        audio = _speak(text, language)
        if audio is None:
            audio = synth_tones(text)
        # trim leading/trailing near-silence so prompts chain tightly
        loud = np.flatnonzero(np.abs(audio) > 300)
        if loud.size:
            audio = audio[max(0, loud[0] - 400):loud[-1] + 400]
        sf.write(path, audio, RATE, subtype="PCM_16")
    return folder


async def hotline(call: Call) -> None:
    """The demo hotline flow (used by `make run` and `trunkline simulate`)."""
    await call.answer()
    await call.play("welcome", barge_in=True)
    try:
        choice = await call.menu("menu", choices="123", timeout=5, retries=3, invalid="invalid",
                                 timeout_prompt="no_input")
    except Timeout:            # no valid choice after the retries: say goodbye and clear
        await call.play("goodbye", barge_in=False)
        await call.hangup()
        return
    call.vars["choice"] = choice
    if choice == "1":
        await call.play("enter_account", barge_in=True)
        account = await call.get_digits(6, timeout=8, inter_digit=4, terminators="#")
        call.vars["account"] = account
        await call.play("you_entered", *[f"digit_{d}" for d in account], barge_in=False)
        await call.play("balance", barge_in=False)
    elif choice == "2":
        await call.play("record_message", barge_in=False)
        path = os.path.join(call.vars.get("recordings_dir", "var/recordings"), f"demo-{call.id}.wav")
        result = await call.record(path, max_seconds=10, silence_seconds=2.0)
        call.cdr.recording = result.path
        await call.play("thanks_message", barge_in=False)
    else:
        await call.play("time_is", barge_in=False)
    await call.play("goodbye", barge_in=False)
    await call.hangup()
