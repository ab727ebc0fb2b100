"""Labelled greetings for answering-machine tests: people's short answers and machines' long greetings,
spoken by espeak-ng in several voices (converted to 8 kHz by sox, cached on disk under var/test-cache/amd)."""
import functools
import hashlib
import os
import subprocess

import numpy as np

HUMAN = {
    "en": ["Hello?", "Hi, yes?", "Hello, who is this?", "Yeah?"],
    "en-us": ["Hello?", "Hi!", "Speaking.", "Hello, yes?"],
    "de": ["Hallo?", "Ja, bitte?", "Müller."],
    "fr": ["Allô?", "Oui?", "Allô, oui?"],
    "es": ["¿Diga?", "¿Sí?", "Hola."],
    "cmn": ["喂？", "喂，你好。", "哪位？"],
    "yue": ["喂？", "邊位？"],
}
MACHINE = {
    "en": ["Hi, you have reached John and Mary. We can't come to the phone right now, "
           "please leave a message after the tone.",
           "Thank you for calling. Nobody is available to take your call. Please leave your name and number."],
    "en-us": ["You have reached the voicemail of Sarah Miller. Please leave a message after the beep.",
              "The person you are calling is not available. At the tone, please record your message."],
    "de": ["Guten Tag, Sie sind verbunden mit dem Anschluss von Familie Schmidt. "
           "Bitte hinterlassen Sie eine Nachricht nach dem Signalton."],
    "fr": ["Bonjour, vous êtes bien sur le répondeur de Marie. Laissez un message après le bip."],
    "es": ["Hola, has llamado a Carlos. No puedo contestar ahora, deja tu mensaje después de la señal."],
    "cmn": ["您好，您拨打的用户暂时无法接听，请在提示音后留言，我们会尽快给您回电。"],
    "yue": ["你好，我而家唔方便聽電話，請喺嘟一聲之後留低你嘅口訊，多謝。"],
}
CACHE = os.path.join(os.path.dirname(__file__), "..", "var", "test-cache", "amd")


@functools.lru_cache(maxsize=None)
def synth(voice, text, speed=160):
    """espeak-ng speech as int16 8 kHz (cached on disk under var/test-cache/amd)."""
    os.makedirs(CACHE, exist_ok=True)
    key = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    path = os.path.join(CACHE, key + ".raw")
    if not os.path.exists(path):
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                             check=True, capture_output=True).stdout
        raw = subprocess.run(["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed",
                              "-t", "raw", "-"], input=wav, check=True, capture_output=True).stdout
        with open(path, "wb") as f:
            f.write(raw)
    with open(path, "rb") as f:
        pcm = np.frombuffer(f.read(), dtype=np.int16)
    nz = np.nonzero(np.abs(pcm) > 200)[0]          # trim espeak's own leading/trailing silence
    return pcm[nz[0]:nz[-1] + 1].copy() if len(nz) else pcm
