"""The IVR's prompt library: named prompts per language as 8 kHz mono 16-bit WAV files, with TTS and uploads.

Layout under ``root``: ``<lang>/<name>.wav`` (language prompts), ``<name>.wav``
(language-neutral), ``_tts/<sha1>.wav`` (espeak-ng cache keyed by text+voice).
Uploads of any file soundfile reads are converted once (mono, resampled to
8 kHz with scipy.signal.resample_poly). Say-number fragments with no recorded
file are synthesised with espeak-ng when it is installed.

`PromptLibrary` builds on the engine's library (trunkline.media.prompts), which loads and
caches the audio; this one adds the language lookup of say fragments and system prompts,
TTS, uploads, recording by phone and the ``ivr_prompts`` index in the database.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.dsp.constants import RATE
from trunkline.media.call import Call
from trunkline.media.errors import Timeout
from trunkline.media.prompts import PromptError, load_audio
from trunkline.media.prompts import PromptLibrary as AudioLibrary

from . import say as _say
from .models import IvrPrompt

LANGS = ("zh", "en")
VOICES = {"zh": "cmn", "en": "en-us"}

__all__ = ["LANGS", "SYSTEM_PROMPTS", "VOICES", "PromptError", "PromptLibrary", "check_lang", "check_name",
           "check_voice", "espeak_available", "record_by_phone", "set_tts_command", "trim_silence"]

#: a language tag that may be a directory under the prompt root: "zh", "en", "yue", "en-us", "pt_BR"
LANG_RE = re.compile(r"[a-z]{2,3}([-_][A-Za-z]{2,4})?")
#: an espeak-ng voice name: never starts with "-" (it is an argument of -v)
VOICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]{0,63}")
#: one "/"-separated component of a prompt name: word characters, then also . + - (never ".", "..", "-x")
NAME_PART_RE = re.compile(r"\w[\w.+-]{0,99}")


def check_lang(lang: str) -> str:
    """`lang` when it is a plain language tag; PromptError otherwise (it becomes a directory name)."""
    if not isinstance(lang, str) or not LANG_RE.fullmatch(lang):
        raise PromptError(f"bad language {lang!r} (expected a tag like zh, en or en-us)")
    return lang


def check_voice(voice: str) -> str:
    """`voice` when it is an espeak-ng voice name (en-us, cmn, en+f3, mb/mb-en1); PromptError otherwise."""
    if not isinstance(voice, str) or not VOICE_RE.fullmatch(voice):
        raise PromptError(f"bad voice {voice!r}")
    return voice


def check_name(name: str) -> str:
    """`name` when every "/"-separated part is a plain file name; PromptError otherwise (no "..", no
    absolute path, no backslash, NUL or control characters)."""
    if not isinstance(name, str) or not name or len(name) > 200 or \
            not all(NAME_PART_RE.fullmatch(part) for part in name.split("/")):
        raise PromptError(f"bad prompt name {name!r} (letters, digits, _ . + - and / between parts)")
    return name

# system prompts the IVR itself plays (name: {language: text}); synthesised by TTS until a recorded
# file replaces them
SYSTEM_PROMPTS: dict[str, dict[str, str]] = yaml.safe_load("""\
ivr-lookup-failed:
  zh: 抱歉，查询服务暂时不可用，请稍后再试。
  en: Sorry, the information service is not available right now. Please try later.
ivr-fax-unavailable:
  zh: 抱歉，传真服务暂时不可用。
  en: Sorry, the fax service is not available.
ivr-queue-unavailable:
  zh: 抱歉，人工服务暂时不可用。
  en: Sorry, no agent service is available.
ivr-goodbye:
  zh: 感谢您的来电，再见。
  en: Thank you for calling. Goodbye.
vm-enter-box:
  zh: 请输入信箱号码，以井号键结束。
  en: Please enter your mailbox number, then press pound.
vm-enter-pin:
  zh: 请输入密码，以井号键结束。
  en: Please enter your password, then press pound.
vm-bad-pin:
  zh: 密码错误。
  en: That password is incorrect.
vm-you-have:
  zh: 您有
  en: You have
vm-new:
  zh: 条新留言
  en: new messages
vm-saved-count:
  zh: 条已保存留言
  en: saved messages
vm-main-menu:
  zh: 收听新留言请按一，收听已保存留言请按二，录制问候语请按三，退出请按星号键。
  en: For new messages press 1, for saved messages press 2, to record your greeting press 3, to exit press star.
vm-message-menu:
  zh: 重听请按一，保存请按九，删除请按七，下一条请按井号键。
  en: To replay press 1, to save press 9, to delete press 7, for the next message press pound.
vm-no-messages:
  zh: 没有留言。
  en: There are no messages.
vm-saved:
  zh: 已保存。
  en: Saved.
vm-deleted:
  zh: 已删除。
  en: Deleted.
vm-default-greeting:
  zh: 您拨打的用户不方便接听，请在提示音后留言，按井号键结束。
  en: Please leave a message after the tone. Press pound when you are done.
vm-record-greeting:
  zh: 请在提示音后录制问候语，以井号键结束。
  en: Record your greeting after the tone, then press pound.
vm-message-from:
  zh: 来电号码
  en: Message from
vm-no-box:
  zh: 该信箱不存在。
  en: That mailbox does not exist.
survey-ask:
  zh: 请为本次服务评分，非常满意请按五，非常不满意请按一。
  en: Please rate our service from 1 to 5, where 5 is excellent.
survey-thanks:
  zh: 感谢您的评价，再见。
  en: Thank you for your rating. Goodbye.
prompt-admin-pin:
  zh: 请输入管理密码，以井号键结束。
  en: Please enter the administrator PIN, then press pound.
prompt-enter-number:
  zh: 请输入提示音编号，以井号键结束。
  en: Enter the prompt number, then press pound.
prompt-record:
  zh: 请在提示音后录音，以井号键结束。
  en: Record after the tone, then press pound.
prompt-review:
  zh: 保存请按一，重录请按二，放弃请按三。
  en: To keep it press 1, to record again press 2, to cancel press 3.
prompt-stored:
  zh: 提示音已保存。
  en: The prompt is stored.
""")


#: the TTS engine's command line: the text comes on standard input, {out} is the WAV file to write (any
#: rate; converted to 8 kHz once), {voice} the voice of the prompt's language (VOICES), {lang} the language
DEFAULT_TTS_COMMAND = ("espeak-ng", "-v", "{voice}", "-w", "{out}", "--stdin")
_tts_command: tuple[str, ...] = DEFAULT_TTS_COMMAND


def set_tts_command(command: str | Sequence[str] | None) -> tuple[str, ...]:
    """Choose the TTS engine for every prompt library (a command line, shell-split; empty: espeak-ng);
    returns the command in force. PromptError when it names no {out} file."""
    global _tts_command
    args = tuple(shlex.split(command) if isinstance(command, str) else (command or ()))
    if not args:
        args = DEFAULT_TTS_COMMAND
    if not any("{out}" in a for a in args):
        raise PromptError(f"TTS command {' '.join(args)!r} must name the output file as {{out}}")
    _tts_command = args
    return args


def espeak_available() -> bool:
    """True when the configured TTS engine (espeak-ng by default) is on PATH."""
    return shutil.which(_tts_command[0]) is not None


def trim_silence(x: np.ndarray, threshold: int = 300, pad: int = 160) -> np.ndarray:
    """Cut leading and trailing samples below `threshold` (linear), keeping `pad` samples each side."""
    idx = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    if idx.size == 0:
        return x
    return x[max(0, idx[0] - pad): min(len(x), idx[-1] + 1 + pad)]


def _write_wav_atomic(path: str, samples: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=os.path.dirname(path) or ".")
    os.close(fd)
    try:
        sf.write(tmp, samples, RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):        # the write failed: no half-written file stays behind
            os.unlink(tmp)


class PromptLibrary(AudioLibrary):
    """Named prompts per language, converted once to 8 kHz WAV; TTS fallback through espeak-ng."""

    def __init__(self, root: str | os.PathLike[str], language: str = "zh", tts: bool = True,
                 session_factory: Callable[[], Session] | None = None) -> None:
        self.root = os.path.abspath(root)
        super().__init__([self.root], language)
        self.tts_enabled = tts and espeak_available()
        self.session_factory = session_factory
        self._texts: dict[tuple[str, str], str] = {}   # (lang, name) -> TTS text for prompts defined by text
        os.makedirs(self.root, exist_ok=True)

    # ------------------------------------------------------------ names and files

    @staticmethod
    def _check_name(name: str) -> None:
        check_name(name)

    def _split(self, name: str, lang: str | None) -> tuple[str, str]:
        head, _, rest = name.partition("/")
        if head in LANGS and rest:
            return head, rest
        return (lang or self.language), name

    def _file(self, lang: str, name: str) -> str:
        """The file of prompt `name` in `lang` ("" = language-neutral): always inside the root."""
        check_name(name)
        path = os.path.join(self.root, check_lang(lang), name + ".wav") if lang else \
            os.path.join(self.root, name + ".wav")
        if os.path.commonpath([self.root, os.path.abspath(path)]) != self.root:
            raise PromptError(f"prompt {name!r} would lie outside {self.root}")
        return path

    def find(self, name: str, lang: str | None = None) -> str | None:
        """Path of an existing prompt file for name in lang (then language-neutral), or None."""
        self._check_name(name)
        lang, bare = self._split(name, lang)
        for candidate in (self._file(lang, bare), self._file("", bare)):
            if os.path.exists(candidate):
                return candidate
        return None

    def path(self, name: str, lang: str | None = None) -> str:
        """Path of the prompt's 8 kHz WAV, synthesising text-defined prompts and say fragments on demand."""
        found = self.find(name, lang)
        if found:
            return found
        plang, bare = self._split(name, lang)
        text = self._texts.get((plang, bare))
        if text is None and name in _say.FRAGMENTS:
            text = _say.FRAGMENTS[name]
            plang = _say.fragment_lang(name)
        if text is None and f"{plang}/{bare}" in _say.FRAGMENTS:
            text = _say.FRAGMENTS[f"{plang}/{bare}"]
        if text is None and bare in SYSTEM_PROMPTS:
            texts = SYSTEM_PROMPTS[bare]
            text = texts.get(plang) or texts["en"]
        if text is None:
            raise PromptError(f"prompt {name!r} not found for language {plang!r} under {self.root}")
        return self.tts(text, plang)

    def locate(self, name: str, lang: str | None = None) -> str:
        """The file a prompt plays (`path`): what `load` and `key` of the audio library read."""
        return self.path(name, lang)

    def exists(self, name: str, lang: str | None = None) -> bool:
        """True if the prompt can be played (file present, or synthesisable)."""
        try:
            self.path(name, lang) if self.tts_enabled else self._require_file(name, lang)
            return True
        except PromptError:
            return False

    def _require_file(self, name: str, lang: str | None) -> None:
        if self.find(name, lang) is None:
            raise PromptError(f"prompt {name!r} not found")

    def __contains__(self, name: str) -> bool:
        return self.exists(name)

    def get(self, name: str, lang: str | None = None) -> np.ndarray:
        """The prompt's samples (the same as `load`)."""
        return self.load(name, lang)

    def resolve(self, items: Iterable[Any], lang: str | None = None) -> list[Any]:
        """Map a play list (names, file paths, arrays) to items the engine plays: names become WAV paths."""
        out: list[Any] = []
        for item in items:
            if isinstance(item, (list, tuple)):
                out.extend(self.resolve(item, lang))
            elif isinstance(item, str) and not os.path.isabs(item):
                out.append(self.path(item, lang))
            else:
                out.append(item)
        return out

    def names(self, lang: str | None = None) -> list[str]:
        """Names of the prompt files present for a language (sorted)."""
        base = os.path.join(self.root, check_lang(lang or self.language))
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if f.endswith(".wav"):
                    rel = os.path.relpath(os.path.join(dirpath, f), base)
                    out.append(rel[:-4].replace(os.sep, "/"))
        return sorted(out)

    # ------------------------------------------------------------ adding prompts

    def add_file(self, name: str, src: str | os.PathLike[str], lang: str | None = None,
                 number: int | None = None) -> str:
        """Import any soundfile-readable file as prompt `name` (converted to 8 kHz mono WAV once)."""
        self._check_name(name)
        lang = check_lang(lang or self.language)
        samples = load_audio(src)
        if len(samples) == 0:
            raise PromptError(f"audio file {src!r} is empty")
        dest = self._file(lang, name)
        _write_wav_atomic(dest, samples)
        self._index(name, lang, dest, "upload", samples, number=number)
        return dest

    def add_samples(self, name: str, samples: Sequence[int] | np.ndarray, lang: str | None = None,
                    source: str = "phone", number: int | None = None) -> str:
        """Store int16 8 kHz samples as prompt `name`."""
        self._check_name(name)
        lang = check_lang(lang or self.language)
        pcm = np.asarray(samples, dtype=np.int16)
        dest = self._file(lang, name)
        _write_wav_atomic(dest, pcm)
        self._index(name, lang, dest, source, pcm, number=number)
        return dest

    def define_text(self, name: str, text: str, lang: str | None = None, voice: str | None = None) -> str:
        """Define prompt `name` as TTS of `text` (synthesised now, cached by text+voice)."""
        self._check_name(name)
        lang = check_lang(lang or self.language)
        self._texts[(lang, name)] = text
        path = self.tts(text, lang, voice)
        self._index(name, lang, path, "tts", None, text=text, voice=voice or VOICES.get(lang, lang))
        return path

    def tts(self, text: str, lang: str | None = None, voice: str | None = None) -> str:
        """Path of a cached espeak-ng rendering of `text` at 8 kHz (made once per text+voice)."""
        voice = voice or VOICES.get(lang or self.language, "en-us")
        engine = "" if _tts_command == DEFAULT_TTS_COMMAND else "\0".join(_tts_command) + "\0"
        key = hashlib.sha1(f"{engine}{voice}\0{text}".encode()).hexdigest()
        dest = os.path.join(self.root, "_tts", key + ".wav")
        if os.path.exists(dest):
            return dest
        if not self.tts_enabled:
            raise PromptError(f"no recorded prompt and espeak-ng TTS is not available for {text!r}")
        with tempfile.TemporaryDirectory() as tmp:
            raw = os.path.join(tmp, "tts.wav")
            # the text goes on stdin, never as an argument espeak-ng could parse as an option (-f FILE ...)
            fill = {"voice": check_voice(voice), "out": raw, "lang": check_lang(lang or self.language)}
            argv = [a.format(**fill) for a in _tts_command]
            proc = subprocess.run(argv, input=text.encode(), capture_output=True, timeout=30)
            if proc.returncode != 0 or not os.path.exists(raw):
                raise PromptError(f"TTS {argv[0]} failed for voice {voice!r}: {proc.stderr.decode(errors='replace')}")
            samples = trim_silence(load_audio(raw))
        _write_wav_atomic(dest, samples)
        return dest

    def materialize(self, names: Iterable[str] | None = None, langs: Sequence[str] = LANGS) -> list[str]:
        """Write TTS renderings of say fragments and system prompts as files <lang>/<name>.wav.

        After this the engine's own prompt library (a directory search) plays them by name, so a
        Python flow can do ``await call.play(*say.money("2.50"))``. Existing recordings are kept.
        Returns the paths written.
        """
        written = []
        if names is None:
            names = [n for n in _say.FRAGMENTS if _say.fragment_lang(n) in langs]
            names += [f"{lang}/{n}" for lang in langs for n in SYSTEM_PROMPTS]
        for name in names:
            lang, bare = self._split(name, None)
            dest = self._file(lang, bare)
            if os.path.exists(dest):
                continue
            src = self.path(name, lang)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(src, dest)
            written.append(dest)
        return written

    def _index(self, name: str, lang: str, path: str, source: str, samples: np.ndarray | None,
               number: int | None = None, text: str = "", voice: str = "") -> None:
        self.forget(path)
        if self.session_factory is None:
            return
        if samples is None:
            samples = sf.read(path, dtype="int16")[0]
        with session_scope(self.session_factory) as s:
            row = s.query(IvrPrompt).filter_by(name=name, lang=lang).one_or_none()
            if row is None:
                row = IvrPrompt(name=name, lang=lang)
                s.add(row)
            row.path, row.source, row.text, row.voice = path, source, text, voice
            row.duration_ms = int(len(samples) * 1000 / RATE)
            if number is not None:
                row.number = number

    def by_number(self, number: int) -> tuple[str, str] | None:
        """Name and language of the prompt registered under a phone-recording number, or None."""
        if self.session_factory is None:
            return None
        with self.session_factory() as s:
            row = s.query(IvrPrompt).filter_by(number=number).first()
            return (row.name, row.lang) if row else None


async def record_by_phone(call: Call, library: PromptLibrary, pin: str | int | Callable[[str], bool],
                          lang: str | None = None, max_seconds: float = 60.0, pin_tries: int = 3) -> list[str]:
    """Admin flow: enter the PIN, then prompt numbers; record, review (1 keep, 2 again, 3 cancel), store.

    `pin` is the admin PIN (digits) or a callable(pin) -> bool. Returns the names stored.
    Prompt number N is the library prompt registered under N, else the name "custom/N".
    """
    lang = lang or library.language
    check: Callable[[str], bool] = pin if callable(pin) else (lambda p: p == str(pin))

    async def say_(*names: str, barge_in: bool = True) -> str | None:
        return await call.play(*[library.path(n, lang) for n in names], barge_in=barge_in)

    async def digits(count: int, timeout: float = 8.0, terminators: str = "#") -> str:
        try:
            return await call.get_digits(count, timeout=timeout, inter_digit=4.0, terminators=terminators)
        except Timeout:
            return ""

    if getattr(call, "answered_at", None) is None:
        await call.answer()
    for _ in range(pin_tries):
        await say_("prompt-admin-pin")
        if check(await digits(12)):
            break
        call.flush_digits()
        await say_("vm-bad-pin", barge_in=False)
    else:
        await say_("ivr-goodbye", barge_in=False)
        return []
    stored = []
    tmpdir = os.path.join(library.root, "_incoming")
    os.makedirs(tmpdir, exist_ok=True)
    while True:
        await say_("prompt-enter-number")
        number = await digits(6)
        if not number or not number.isdigit():
            break
        hit = library.by_number(int(number))
        name, plang = hit if hit else (f"custom/{int(number)}", lang)
        while True:
            await say_("prompt-record", barge_in=False)
            tmp = os.path.join(tmpdir, f"{int(number)}-{os.getpid()}.wav")
            res = await call.record(tmp, max_seconds=max_seconds, silence_seconds=None, terminators="#", beep=True)
            if res.error:
                raise PromptError(f"recording prompt {name} failed: {res.error}")
            await call.play(tmp, barge_in=True)
            await say_("prompt-review")
            choice = await digits(1, terminators="")
            if choice == "2":
                continue
            if choice == "1":
                library.add_file(name, tmp, lang=plang, number=int(number))
                stored.append(name)
                await say_("prompt-stored", barge_in=False)
            os.unlink(tmp)
            break
    await say_("ivr-goodbye", barge_in=False)
    return stored
