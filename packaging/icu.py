"""A smaller ICU data library for the Linux bundle: only the data Qt can ask ICU for.

WHY: ``libicudata.so.NN`` from PySide6's wheel is 32 MB, a fifth of the bundle. Qt Core
links ICU, but it calls only these ICU functions (``nm -D --undefined-only
libQt6Core.so.6``; nothing else in the bundle links ICU):

* ``ucol_*`` -- collation (QCollator, QString::localeAwareCompare): needs ``coll/``.
* ``ucnv_*`` -- codecs named at run time (QStringDecoder("Shift_JIS"), an HTML
  ``<meta charset>`` on the clipboard): needs the converter tables and their aliases.
* ``u_strToUpper/Lower`` -- QLocale::toUpper/toLower: the case data is compiled into
  libicuuc, not read from this library.
* ``ucal_*`` -- QTimeZone::displayName (and the ``tttt`` date format) and canonical
  time-zone ids.

Qt finds text boundaries and normalizes with its own Unicode tables (it imports no
``ubrk_*`` or ``unorm2_*``) and formats dates, numbers and locale names from its own
CLDR tables. So everything ICU keeps for its *own* formatters -- the display names of
languages, regions, currencies, units and time zones, per-locale calendars and number
formats, spelled-out numbers, transliteration, break iterators and dictionaries,
character names, IDNA/StringPrep, the spoof checker -- is dead weight here.

One visible difference, and where: QTimeZone::displayName(..., LongName) answers ""
(the ``tttt`` date format prints nothing) because the zone names are gone. The app
formats every time with Python, never through QTimeZone; tests/test_icu_data.py checks
that collation, case mapping and codecs give exactly what the full data gives.

How: ICU's own tools. ``icupkg`` lists the items of the common data blob (the library's
one exported symbol, ``icudtNN_dat``) and removes items; ``genccode`` writes the blob back
as assembly exporting the same symbol; ``cc -shared`` links it with the same SONAME.
Needs icu-devtools and a C compiler (build.py installs them).
"""

from __future__ import annotations

import ctypes
import fnmatch
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Items removed from the ICU data, by pattern, with why Qt never reads them.
REMOVED = {
    "brkitr/*": "break iterators and dictionaries: Qt finds text boundaries itself (no ubrk_* import)",
    "lang/*": "language and script display names: QLocale has its own (CLDR) tables",
    "region/*": "region display names: QLocale has its own tables",
    "curr/*": "currency names and symbols: QLocale has its own tables",
    "unit/*": "unit display names (MeasureFormat): not used by Qt",
    "zone/*": "time-zone display names: only QTimeZone::displayName / 'tttt', which the app never calls",
    "rbnf/*": "spelled-out numbers (RuleBasedNumberFormat): not used by Qt",
    "translit/*": "transliteration: not used by Qt",
    "unames.icu": "Unicode character names: not used by Qt",
    "uts46.nrm": "IDNA (UTS #46): QUrl does its own IDNA",
    "*.spp": "StringPrep profiles (IDNA2003, XMPP, LDAP): not used by Qt",
    "confusables*.cfu": "the spoof checker: not used by Qt",
    "ulayout.icu": "Indic layout properties: not used by Qt",
    "uemoji.icu": "emoji properties: Qt has its own",
    "units.res": "unit conversion data: not used by Qt",
    "currencyNumericCodes.res": "currency codes: not used by Qt",
    "dayPeriods.res": "day-period formatting: Qt formats dates itself",
    "genderList.res": "gender of lists for ICU's list formatter: not used by Qt",
    "grammaticalFeatures.res": "unit formatting: not used by Qt",
    "plurals.res": "plural rules for ICU's formatters: not used by Qt",
    "pluralRanges.res": "plural rules for ICU's formatters: not used by Qt",
}
#: Per-locale data of ICU's own formatters (calendars, number and date patterns): top-level
#: items named like a locale (de.res, zh_Hant_TW.res); root.res stays as the fallback.
LOCALE_ITEM = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*\.res$")
LOCALE_REASON = "per-locale formats and calendars of ICU's own formatters: Qt formats with its own tables"
KEPT_TOP_LEVEL = {"root.res", "pool.res", "res_index.res"}
#: The labels a web page's ``<meta charset>`` may carry (the WHATWG Encoding Standard's
#: label table, "replacement" labels left out): the only codec names Qt opens on its own,
#: for HTML on the clipboard or in a drop. Their ICU converter tables stay.
WEB_ENCODING_LABELS = """
866 cp866 csibm866 ibm866
csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2
csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3
csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4
csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988
arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e iso-8859-6-i
iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987
csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 iso_8859-7
iso_8859-7:1987 sun_eu_greek
csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 iso_8859-8
iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical
csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6
iso-8859-13 iso8859-13 iso885913 iso-8859-14 iso8859-14 iso885914
csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9 iso-8859-16
cskoi8r koi koi8 koi8-r koi8_r koi8-ru koi8-u
csmacintosh mac macintosh x-mac-roman x-mac-cyrillic x-mac-ukrainian
dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874
cp1250 windows-1250 x-cp1250 cp1251 windows-1251 x-cp1251
ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 iso_8859-1
iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252
cp1253 windows-1253 x-cp1253
cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5
windows-1254 x-cp1254
cp1255 windows-1255 x-cp1255 cp1256 windows-1256 x-cp1256 cp1257 windows-1257 x-cp1257
cp1258 windows-1258 x-cp1258
chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk gb18030
big5 big5-hkscs cn-big5 csbig5 x-x-big5
cseucpkdfmtjapanese euc-jp x-euc-jp csiso2022jp iso-2022-jp
csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis
cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949
""".split()
CONVERTER_REASON = ("a codec no web page can be labelled with (EBCDIC, DOS and other IBM code pages, "
                    "compound text, ...): Qt opens codecs by name only for HTML, the app never by itself")


class IcuError(RuntimeError):
    """A step of rebuilding the ICU data library failed; the message says which."""


def removal_reason(item: str, converters: frozenset[str]) -> str | None:
    """Why ``item`` (an icupkg item name) is left out, or None when it is kept.

    ``converters``: the converter tables (``name.cnv``) that stay.
    """
    for pattern, reason in REMOVED.items():
        if fnmatch.fnmatchcase(item, pattern):
            return reason
    if "/" not in item and item not in KEPT_TOP_LEVEL and LOCALE_ITEM.match(item):
        return LOCALE_REASON
    if item.endswith(".cnv") and item not in converters:
        return CONVERTER_REASON
    return None


def web_converters(library: Path) -> frozenset[str]:
    """The converter tables ICU opens for WEB_ENCODING_LABELS, asked of the ICU next to ``library``.

    The full data answers (run before trimming): ucnv_open(label) then ucnv_getName, which
    names the table (``ibm-5348_P100-1997`` for windows-1252). Algorithmic converters
    (UTF-*, ISO-2022-*, Latin-1) name no table; ISO-2022-JP's JIS X 0208 comes from Shift_JIS's,
    and icupkg keeps what a kept table builds on (windows-936 on ibm-1386).
    """
    version = data_version(library)
    icuuc = ctypes.CDLL(str(library.with_name(f"libicuuc.so.{version}")))
    open_, name_, close = (getattr(icuuc, f"{f}_{version}") for f in ("ucnv_open", "ucnv_getName", "ucnv_close"))
    open_.restype, open_.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    name_.restype, name_.argtypes = ctypes.c_char_p, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    close.argtypes = [ctypes.c_void_p]
    tables = set()
    for label in WEB_ENCODING_LABELS:
        status = ctypes.c_int(0)
        converter = open_(label.encode(), ctypes.byref(status))
        if not converter or status.value > 0:  # ICU ships none (ISO-8859-16): nothing to keep
            continue
        tables.add(name_(converter, ctypes.byref(status)).decode() + ".cnv")  # ISO_2022,...: no table
        close(converter)
    return frozenset(tables)


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise IcuError(f"{name} is not installed (apt-get install icu-devtools gcc)")
    return path


def _run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise IcuError(f"{Path(argv[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def data_version(library: Path) -> str:
    """'73' for libicudata.so.73."""
    found = re.fullmatch(r"libicudata\.so\.(\d+)", library.name)
    if not found:
        raise IcuError(f"{library.name} is not named libicudata.so.NN")
    return found.group(1)


def extract_blob(library: Path, out: Path) -> None:
    """The common data blob: the library's read-only data, which is the one symbol icudtNN_dat."""
    _run([_tool("objcopy"), "-O", "binary", "--only-section=.rodata", str(library), str(out)], out.parent)
    head = out.read_bytes()[:16]
    # ICU data header: headerSize (2 bytes), magic 0xda 0x27, then dataFormat "CmnD" at offset 12.
    if head[2:4] != b"\xda\x27" or head[12:16] != b"CmnD":
        raise IcuError(f"{library}: its .rodata is not an ICU common data blob")


def trimmed_library(library: Path, work: Path) -> tuple[Path, list[str]]:
    """Build work/libicudata.so.NN without the REMOVED items; return it and what was removed."""
    library, work = library.resolve(), work.resolve()
    version = data_version(library)
    name = f"icudt{version}l"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "in").mkdir()
        full = tmpdir / "in" / f"{name}.dat"
        extract_blob(library, full)
        items = _run([_tool("icupkg"), "-l", str(full)], tmpdir).split()
        converters = web_converters(library)
        removed = [item for item in items if removal_reason(item, converters)]
        small = tmpdir / f"{name}.dat"
        while True:  # icupkg refuses to drop what a kept item needs (windows-936 -> ibm-1386): keep it
            (tmpdir / "remove.txt").write_text("\n".join(removed) + "\n", encoding="utf-8")
            done = subprocess.run([_tool("icupkg"), "-r", "remove.txt", str(full), small.name], cwd=tmpdir,
                                  capture_output=True, text=True)
            needed = set(re.findall(r"depends on missing item (\S+)", done.stderr))
            if done.returncode == 0 or not needed & set(removed):
                break
            removed = [item for item in removed if item not in needed]
        if done.returncode != 0:
            raise IcuError(f"icupkg failed: {done.stderr.strip()[-500:]}")
        _run([_tool("genccode"), "-q", "-a", "gcc", "-e", f"icudt{version}", "-d", str(tmpdir), str(small)], tmpdir)
        out = work / library.name
        _run([_tool("cc"), "-shared", "-nostdlib", "-Wl,-z,noexecstack", f"-Wl,-soname,{library.name}",
              "-o", str(out), str(tmpdir / f"{name}_dat.S")], tmpdir)
        _run([_tool("strip"), "--strip-unneeded", str(out)], tmpdir)
    return out, removed


def removal_summary(removed: list[str]) -> dict[str, int]:
    """How many items each reason removed (for the build log)."""
    counts: dict[str, int] = {}
    for item in removed:
        reason = removal_reason(item, frozenset()) or ""
        counts[reason] = counts.get(reason, 0) + 1
    return counts
