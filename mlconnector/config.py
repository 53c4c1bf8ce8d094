"""Load and validate the YAML pipeline file (``mlconnector.yaml``).

Every problem is a :class:`~mlconnector.errors.ConfigError` with the file, the 1-based line and
the dotted key (``systems.sage300.url``). We walk PyYAML's *node* tree (``yaml.compose``) rather
than the constructed objects because only nodes keep line numbers, duplicate keys (which
``safe_load`` silently collapses) and the raw text of scalars (so ``yes`` and ``0123`` can be
caught instead of becoming ``True`` and ``83``). Loading never writes anything.

Per-kind keys live with each system (``mlconnector/systems/<kind>/settings.py``); the streams of
each pair and their options come from :func:`mlconnector.pairs.stream_options`.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from mlconnector import redact
from mlconnector._schema import CheckContext, Field, Invalid, is_loopback
from mlconnector.errors import ConfigError, UsageError
from mlconnector.notify import settings as notify_settings
from mlconnector.notify.settings import EmailSettings, NotifySettings, WebhookSettings
from mlconnector.pairs import STREAM_OPTIONS, stream_options
from mlconnector.secrets import env_var_name

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "KINDS",
    "Config",
    "KindSpec",
    "PairConfig",
    "StreamConfig",
    "load_config",
]

CONFIG_ENV = "MLCONNECTOR_CONFIG"
DEFAULT_CONFIG = "mlconnector.yaml"
DEFAULT_STATE = "mlconnector.db"
# Far above any real pipeline file; stops a wrong path (a log, a dump) from being parsed for minutes.
MAX_CONFIG_BYTES = 1024 * 1024


class KindSpec(NamedTuple):
    """What the loader needs to know about one kind of system."""

    settings: type  # the frozen dataclass built from the YAML keys
    schema: Mapping[str, Field]  # YAML key -> Field (besides `kind`)
    credential_fields: tuple[str, ...]  # secrets resolved by mlconnector.secrets, never in YAML


def _load_kinds(*kinds: str) -> dict[str, KindSpec]:
    specs = {}
    for kind in kinds:
        module = importlib.import_module(f"mlconnector.systems.{kind}.settings")
        specs[kind] = KindSpec(module.SETTINGS, module.SCHEMA, tuple(module.CREDENTIAL_FIELDS))
    return specs


# Adding a kind: create mlconnector/systems/<kind>/settings.py (SETTINGS, SCHEMA,
# CREDENTIAL_FIELDS) and add its name here.
KINDS: dict[str, KindSpec] = _load_kinds("sage300", "procore", "intacct")


@dataclass(frozen=True)
class StreamConfig:
    name: str
    enabled: bool
    options: dict[str, Any]  # every option of the stream, defaults filled in


@dataclass(frozen=True)
class PairConfig:
    name: str
    source: str  # a system name
    target: str  # a system name
    streams: dict[str, StreamConfig]  # every stream the pair supports, enabled or not

    def enabled_streams(self) -> list[StreamConfig]:
        return [s for s in self.streams.values() if s.enabled]


@dataclass(frozen=True)
class Config:
    path: Path
    state_path: Path
    systems: dict[str, Any]  # name -> the kind's settings dataclass
    pairs: dict[str, PairConfig]
    warnings: list[str] = field(default_factory=list)
    notify: NotifySettings | None = None  # the optional `notify:` section (failure notices)

    def system(self, name: str) -> Any:
        """The settings of system ``name``; UsageError naming the known systems otherwise."""
        if name not in self.systems:
            raise UsageError(_unknown("system", name, self.systems, self.path))
        return self.systems[name]

    def pair(self, name: str) -> PairConfig:
        """The pair ``name``; UsageError naming the known pairs otherwise."""
        if name not in self.pairs:
            raise UsageError(_unknown("pair", name, self.pairs, self.path))
        return self.pairs[name]

    def credential_fields(self, system: str) -> tuple[str, ...]:
        """The secrets system ``system`` needs (what `credentials set` prompts for). ``notify``
        names the failure notices' own secret (the SMTP password) when `notify:` is configured."""
        if system == notify_settings.CREDENTIAL_SYSTEM and self.notify is not None:
            if not self.notify.credential_fields:
                raise UsageError(
                    f"the notices in {self.path} need no secret: notify.email.username is not set "
                    "(the SMTP server is used without logging in)",
                    hint="Set notify.email.username to log in; the password is then stored with "
                    "`mlconnector credentials set notify`.")
            return self.notify.credential_fields
        return KINDS[self.system(system).kind].credential_fields


def _unknown(what: str, name: str, known: Mapping[str, Any], path: Path) -> str:
    if not known:
        return f"unknown {what} '{name}': {path} defines no {what}s"
    close = difflib.get_close_matches(name, list(known), n=1)
    guess = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {what} '{name}'{guess}; {what}s in {path}: {', '.join(known)}"


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the pipeline file.

    ``path`` wins; else the environment variable ``MLCONNECTOR_CONFIG``; else ``./mlconnector.yaml``.
    """
    if path is not None and str(path) != "":
        chosen, how = Path(path), "the path given with --config"
    elif os.environ.get(CONFIG_ENV):
        chosen, how = Path(os.environ[CONFIG_ENV]), f"from the environment variable {CONFIG_ENV}"
    else:
        chosen, how = Path(DEFAULT_CONFIG), f"the default {DEFAULT_CONFIG} in the current directory"
    chosen = chosen.expanduser().absolute()
    text = _read(chosen, how)
    return _Loader(chosen, text).load()


def _read(path: Path, how: str) -> str:
    hint = f"Pass --config PATH or set {CONFIG_ENV}; config.example.yaml documents every key."
    try:
        if path.is_dir():
            raise ConfigError(f"configuration path is a directory ({how})", file=str(path), hint=hint)
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"file is {size} bytes; a pipeline file is at most {MAX_CONFIG_BYTES}", file=str(path))
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found ({how})", file=str(path), hint=hint) from None
    except PermissionError:
        raise ConfigError("no permission to read the configuration file", file=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read the configuration file: {e.strerror or e}", file=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", file=str(path), line=line) from None


# --- the node walker -------------------------------------------------------------------------

_T = "tag:yaml.org,2002:"
_STR, _NULL, _MERGE = _T + "str", _T + "null", _T + "merge"
_ALLOWED_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}
_TAG_WORDS = {_T + "bool": "a boolean", _T + "int": "a number", _T + "float": "a number",
              _T + "timestamp": "a date", _T + "null": "null"}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TRUE, _FALSE = {"true", "True", "TRUE"}, {"false", "False", "FALSE"}
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}

_TOP_KEYS = ("state", "systems", "pairs", "notify")
_PAIR_KEYS = ("source", "target", "streams")

Entries = dict[str, tuple[yaml.ScalarNode, yaml.Node]]


class _Scalar(NamedTuple):
    text: str  # after ${VAR} interpolation
    variables: tuple[str, ...]  # the variables interpolated (their values are never shown)
    node: yaml.ScalarNode


class _Loader:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.base_dir = path.parent
        self.warnings: list[str] = []

    # errors ----------------------------------------------------------------------------------

    def error(self, message: str, line: int | yaml.Node | None, key: str | None, hint: str | None = None) -> ConfigError:
        if isinstance(line, yaml.Node):
            line = line.start_mark.line + 1
        return ConfigError(message, file=str(self.path), line=line, key=key, hint=hint)

    @staticmethod
    def show(value: _Scalar) -> str:
        """The value for an error message; never one built from environment variables."""
        if value.variables:
            names = ", ".join("${" + v + "}" for v in value.variables)
            return f"the value from {names} (not shown)"
        text = value.text if len(value.text) <= 80 else value.text[:77] + "..."
        return repr(text)

    # the document ----------------------------------------------------------------------------

    def load(self) -> Config:
        root = self.compose()
        if root is None:
            raise self.error("the file is empty; it needs at least a `systems:` mapping", 1, None,
                             hint="config.example.yaml documents every key.")
        if not isinstance(root, yaml.MappingNode):
            raise self.error(f"the top level must be a mapping (key: value lines), not {_kind_of(root)}", root, None)
        top = self.mapping(root, "", 1)
        self.reject_unknown(top, _TOP_KEYS, "")

        state_text = self.get(top, "state", Field(str, DEFAULT_STATE), "state", 1)
        if not state_text:
            raise self.error("must not be empty", top["state"][1], "state")
        state_path = Path(state_text).expanduser()
        state_path = state_path if state_path.is_absolute() else self.base_dir / state_path

        if "systems" not in top:
            raise self.error("missing required key 'systems'", 1, "systems",
                             hint="config.example.yaml shows a complete file.")
        systems = self.systems(*top["systems"])
        pairs = self.pairs(*top["pairs"], systems) if "pairs" in top else {}
        notify = self.notify(*top["notify"], top["systems"][1]) if "notify" in top else None
        return Config(self.path, state_path, systems, pairs, self.warnings, notify)

    def compose(self) -> yaml.Node | None:
        try:
            return yaml.compose(self.text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else None
            problem = e.problem or "invalid YAML"
            if "\\t" in problem or "\t" in problem:
                message = "a tab character is not allowed here; YAML indents with spaces only"
            else:
                context = f" ({e.context})" if e.context else ""
                message = f"YAML syntax error: {problem}{context}"
                if e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
                    message += f", started at line {e.context_mark.line + 1}"
            raise self.error(message, line, None) from None
        except yaml.reader.ReaderError as e:  # a control character; it carries an offset, not a mark
            line = self.text[: e.position].count("\n") + 1
            raise self.error(f"control character #x{e.character:04x} is not allowed in YAML", line, None) from None

    # generic shapes --------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, key: str, owner_line: int, what: str = "a mapping") -> Entries:
        """The entries of a mapping node, refusing duplicate and non-name keys."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            raise self.error(f"expected {what}, got nothing", owner_line, key or None)
        if not isinstance(node, yaml.MappingNode):
            raise self.error(f"expected {what}, got {_kind_of(node)}", node, key or None)
        entries: Entries = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.error("a key must be a plain name, not a list or mapping", k, key or None)
            name = k.value
            path = f"{key}.{name}" if key else name
            if k.tag == _MERGE:
                raise self.error("YAML merge keys (<<) are not supported; write the keys out", k, key or None)
            if name in entries:
                first = entries[name][0].start_mark.line + 1
                raise self.error(f"duplicate key '{name}' (first at line {first}); each key may appear once",
                                 k, path)
            entries[name] = (k, v)
        return entries

    def reject_unknown(self, entries: Entries, allowed: tuple[str, ...] | list[str], key: str,
                       what: str = "key") -> None:
        for name, (k, _) in entries.items():
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                guess = f"; did you mean '{close[0]}'?" if close else ""
                raise self.error(f"unknown {what} '{name}'{guess}", k, f"{key}.{name}" if key else name,
                                 hint=f"Valid {what}s here: " + ", ".join(allowed) + ".")

    def name(self, k: yaml.ScalarNode, what: str, key: str) -> str:
        if not _NAME.match(k.value):
            raise self.error(f"{what} name {k.value!r} must start with a letter and contain only letters, "
                             "digits, '-' and '_'", k, key)
        return k.value

    def get(self, entries: Entries, name: str, spec: Field, key: str, owner_line: int) -> Any:
        """Convert and check one key of ``entries`` (or apply its default)."""
        return self.get_raw(entries, name, spec, key, owner_line)[0]

    def get_raw(self, entries: Entries, name: str, spec: Field, key: str,
                owner_line: int) -> tuple[Any, _Scalar | None]:
        """Like :meth:`get`, also returning the scalar (for messages that must not show env values)."""
        if name not in entries:
            if spec.required:
                raise self.error(f"missing required key '{name}'", owner_line, key)
            return spec.default, None
        node = entries[name][1]
        converted = self.scalar(node, spec, key)
        if converted is None:
            return None, None
        value, raw = converted
        if spec.check is not None:
            try:
                value = spec.check(value, self.context(key, node))
            except Invalid as e:
                got = f" (got {self.show(raw)})" if e.show_value else ""
                raise self.error(f"{e}{got}", node, key) from None
        return value, raw

    def context(self, key: str, node: yaml.Node) -> CheckContext:
        line = node.start_mark.line + 1

        def warn(message: str) -> None:
            self.warnings.append(f"{self.path}:{line} [{key}]: {message}")

        return CheckContext(self.base_dir, warn)

    # scalars ---------------------------------------------------------------------------------

    def scalar(self, node: yaml.Node, spec: Field, key: str) -> tuple[Any, _Scalar] | None:
        """Convert a scalar node to ``spec.type``; None for an allowed null."""
        want = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}[spec.type]
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(f"expected {want}, got {_kind_of(node)}", node, key)
        if node.tag not in _ALLOWED_TAGS:
            raise self.error(f"YAML tags such as {node.tag} are not supported here", node, key)
        if node.tag == _NULL:
            if spec.nullable:
                return None
            default = "" if spec.required else f"; remove the key to use the default ({spec.default!r})"
            raise self.error(f"expected {want}, got an empty value{default}", node, key)
        value = self.interpolate(node, key)
        text, plain = value.text, node.style is None or bool(value.variables)
        if spec.type is str:
            if node.tag != _STR:
                raise self.error(f"expected a string, but YAML reads unquoted {text!r} as "
                                 f"{_TAG_WORDS.get(node.tag, 'something else')}; put it in quotes",
                                 node, key)
            return text, value
        if not plain:
            raise self.error(f"expected {want}, got the quoted string {self.show(value)}; remove the quotes",
                             node, key)
        if spec.type is bool:
            if text in _TRUE or text in _FALSE:
                return text in _TRUE, value
            if text.lower() in _YAML11_BOOLS and not value.variables:
                raise self.error(f"write true or false, not {text!r} (YAML 1.1 reads {text!r} as a boolean, "
                                 "YAML 1.2 as text)", node, key)
            raise self.error(f"expected true or false, got {self.show(value)}", node, key)
        if spec.type is int:
            if _INT.match(text):
                if len(text.lstrip("+-")) > 18:  # beyond any ID or count (and int() limits)
                    raise self.error(f"number too large: {self.show(value)}", node, key)
                return int(text), value
            hint = ""
            if not value.variables and re.fullmatch(r"[-+]?0[0-9_]+|[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?[0-9][0-9_:]*", text):
                hint = " (write a plain decimal number: no leading zeros, underscores, hex or colons)"
            raise self.error(f"expected a whole number, got {self.show(value)}{hint}", node, key)
        if _FLOAT.match(text):
            if not math.isfinite(float(text)):
                raise self.error(f"number too large: {self.show(value)}", node, key)
            return float(text), value
        raise self.error(f"expected a number, got {self.show(value)}", node, key)

    def interpolate(self, node: yaml.ScalarNode, key: str) -> _Scalar:
        """Expand ``${VAR}`` (any number, anywhere in the value); ``$${`` is a literal ``${``."""
        text = node.value
        if "$" not in text:
            return _Scalar(text, (), node)
        out: list[str] = []
        used: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("$${", i):
                out.append("${")
                i += 3
            elif text.startswith("${", i):
                end = text.find("}", i + 2)
                if end < 0:
                    raise self.error("unterminated ${...}; write $${ for a literal ${", node, key)
                name = text[i + 2 : end]
                if not _VAR_NAME.match(name):
                    raise self.error(f"bad variable name in ${{{name}}}; use letters, digits and '_' "
                                     "(write $${ for a literal ${)", node, key)
                if name not in os.environ:
                    raise self.error(f"environment variable {name} is not set (write $${{ for a literal ${{)",
                                     node, key)
                out.append(os.environ[name])
                used.append(name)
                i = end + 1
            else:
                out.append(text[i])
                i += 1
        return _Scalar("".join(out), tuple(dict.fromkeys(used)), node)

    # sections --------------------------------------------------------------------------------

    def systems(self, key_node: yaml.ScalarNode, node: yaml.Node) -> dict[str, Any]:
        entries = self.mapping(node, "systems", key_node.start_mark.line + 1, "a mapping of system names")
        if not entries:
            raise self.error("define at least one system", node, "systems")
        systems: dict[str, Any] = {}
        env_prefixes: dict[str, str] = {}
        for name, (k, v) in entries.items():
            key = f"systems.{name}"
            self.name(k, "system", key)
            # Credentials are looked up by MLCONNECTOR_<NAME>_<FIELD>; two names must not share one.
            prefix = env_var_name(name, "x")
            if prefix in env_prefixes:
                raise self.error(f"system '{name}' and system '{env_prefixes[prefix]}' would share the "
                                 f"credential variables {prefix[:-2]}_*; rename one", k, key)
            env_prefixes[prefix] = name
            systems[name] = self.system(name, k, v, key)
        return systems

    def system(self, name: str, k: yaml.ScalarNode, node: yaml.Node, key: str) -> Any:
        line = k.start_mark.line + 1
        entries = self.mapping(node, key, line, f"a mapping with the keys of system '{name}'")
        kind, raw = self.get_raw(entries, "kind", Field(str), f"{key}.kind", line)
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, list(KINDS), n=1)
            guess = f"; did you mean '{close[0]}'?" if close else ""
            raise self.error(f"unknown kind {self.show(raw)}{guess}", entries["kind"][1], f"{key}.kind",
                             hint="Known kinds: " + ", ".join(KINDS) + ".")
        spec = KINDS[kind]
        for field_name, (fk, _) in entries.items():
            if field_name in spec.credential_fields:
                raise self.error(f"'{field_name}' is a credential and is never read from this file",
                                 fk, f"{key}.{field_name}",
                                 hint=f"Store it with `mlconnector credentials set {name}` or set "
                                      f"{env_var_name(name, field_name)} in the environment.")
        self.reject_unknown(entries, ["kind", *spec.schema], key)
        values = {f: self.get(entries, f, fs, f"{key}.{f}", line) for f, fs in spec.schema.items()}
        return spec.settings(name=name, kind=kind, **values)

    def pairs(self, key_node: yaml.ScalarNode, node: yaml.Node, systems: dict[str, Any]) -> dict[str, PairConfig]:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return {}
        entries = self.mapping(node, "pairs", key_node.start_mark.line + 1, "a mapping of pair names")
        return {name: self.pair(name, k, v, systems) for name, (k, v) in entries.items()}

    def pair(self, name: str, k: yaml.ScalarNode, node: yaml.Node, systems: dict[str, Any]) -> PairConfig:
        key, line = f"pairs.{name}", k.start_mark.line + 1
        self.name(k, "pair", key)
        entries = self.mapping(node, key, line, "a mapping with source, target and streams")
        self.reject_unknown(entries, _PAIR_KEYS, key)
        ends = {}
        for end in ("source", "target"):
            system, raw = self.get_raw(entries, end, Field(str), f"{key}.{end}", line)
            if system not in systems:
                close = difflib.get_close_matches(system, list(systems), n=1)
                guess = f"; did you mean '{close[0]}'?" if close else ""
                raise self.error(f"{end} {self.show(raw)} is not a system defined under `systems:`{guess}",
                                 entries[end][1], f"{key}.{end}",
                                 hint="Systems defined: " + ", ".join(systems) + ".")
            ends[end] = system
        source, target = ends["source"], ends["target"]
        if source == target:
            raise self.error(f"source and target are the same system '{source}'", entries["target"][1],
                             f"{key}.target")
        kinds = (systems[source].kind, systems[target].kind)
        available = stream_options(*kinds)
        if available is None:
            supported = ", ".join(f"{s} -> {t}" for s, t in STREAM_OPTIONS)
            raise self.error(f"a {kinds[0]} -> {kinds[1]} pair is not supported (source '{source}' is a "
                             f"{kinds[0]} system, target '{target}' a {kinds[1]} system)", entries["target"][1], key,
                             hint=f"Supported pairs of kinds: {supported}.")
        streams = self.streams(entries.get("streams"), available, f"{key}.streams", line)
        if not any(s.enabled for s in streams.values()):
            self.warnings.append(f"{self.path}:{line} [{key}]: no stream is enabled; "
                                 f"`sync {name}` will do nothing (streams: {', '.join(available)})")
        return PairConfig(name, source, target, streams)

    def streams(self, entry: tuple[yaml.ScalarNode, yaml.Node] | None,
                available: dict[str, dict[str, tuple[type, Any]]], key: str, line: int) -> dict[str, StreamConfig]:
        configured: Entries = {}
        if entry is not None and not (isinstance(entry[1], yaml.ScalarNode) and entry[1].tag == _NULL):
            configured = self.mapping(entry[1], key, entry[0].start_mark.line + 1, "a mapping of stream names")
            self.reject_unknown(configured, list(available), key, "stream")
        streams = {}
        for name, options in available.items():
            schema = {"enabled": Field(bool, True)}
            schema.update({opt: Field(t, default) for opt, (t, default) in options.items()})
            if name not in configured:
                # A stream that is not listed is off; listing it turns it on unless `enabled: false`.
                values = {opt: spec.default for opt, spec in schema.items()}
                values["enabled"] = False
            else:
                k, node = configured[name]
                skey = f"{key}.{name}"
                if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
                    stream_entries: Entries = {}
                else:
                    stream_entries = self.mapping(node, skey, k.start_mark.line + 1, "a mapping of stream options")
                self.reject_unknown(stream_entries, list(schema), skey, "option")
                values = {opt: self.get(stream_entries, opt, spec, f"{skey}.{opt}", k.start_mark.line + 1)
                          for opt, spec in schema.items()}
            enabled = values.pop("enabled")
            streams[name] = StreamConfig(name, enabled, values)
        return streams

    def notify(self, key_node: yaml.ScalarNode, node: yaml.Node, systems_node: yaml.Node) -> NotifySettings:
        line = key_node.start_mark.line + 1
        entries = self.mapping(node, "notify", line, "a mapping with webhook and/or email")
        self.reject_unknown(entries, ("webhook", "email"), "notify")
        if not entries:
            raise self.error("define webhook, email or both (or remove `notify:`)", node, "notify")
        # The notices' credentials are stored under the name `notify` (MLCONNECTOR_NOTIFY_*):
        # a system may not share it.
        reserved = env_var_name(notify_settings.CREDENTIAL_SYSTEM, "x")
        for k, _ in systems_node.value:
            if env_var_name(k.value, "x") == reserved:
                raise self.error(f"a system may not be named {k.value!r} when `notify:` is configured: the "
                                 "notices keep their credentials under that name", k, f"systems.{k.value}",
                                 hint="Rename the system.")
        webhook = self.webhook(*entries["webhook"]) if "webhook" in entries else None
        email = self.email(*entries["email"]) if "email" in entries else None
        return NotifySettings(webhook=webhook, email=email)

    def webhook(self, k: yaml.ScalarNode, node: yaml.Node) -> WebhookSettings:
        key, line = "notify.webhook", k.start_mark.line + 1
        entries = self.mapping(node, key, line, "a mapping with the webhook's url")
        schema = notify_settings.WEBHOOK_SCHEMA
        self.reject_unknown(entries, list(schema), key)
        values = {f: self.get(entries, f, spec, f"{key}.{f}", line) for f, spec in schema.items()}
        # The URL carries the webhook's token: scrubbed from every log line and message from now on.
        redact.register(values["url"])
        parts = urllib.parse.urlsplit(values["url"])
        # Its parts too, as they show up alone (a path in a proxy's error page, a Teams `sig=`);
        # short ones like /hook or 1.0 are words, not secrets.
        query_values = [v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        for part in (parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query, *query_values):
            if len(part) >= 16:
                redact.register(part)
        return WebhookSettings(**values)

    def email(self, k: yaml.ScalarNode, node: yaml.Node) -> EmailSettings:
        key, line = "notify.email", k.start_mark.line + 1
        entries = self.mapping(node, key, line, "a mapping with host, from and to")
        for name in ("password", "smtp_password"):
            if name in entries:
                raise self.error(f"'{name}' is a credential and is never read from this file", entries[name][0],
                                 f"{key}.{name}",
                                 hint="Store it with `mlconnector credentials set notify` or set "
                                      f"{env_var_name(notify_settings.CREDENTIAL_SYSTEM, 'smtp_password')} in "
                                      "the environment.")
        self.reject_unknown(entries, notify_settings.EMAIL_KEYS, key)
        values = {f: self.get(entries, f, spec, f"{key}.{f}", line)
                  for f, spec in notify_settings.EMAIL_SCHEMA.items()}
        if values["security"] == "none" and not is_loopback(values["host"]):
            raise self.error("security: none sends mail (and any password) in clear text; it is allowed only "
                             "to a loopback host such as 127.0.0.1 (a local relay)",
                             entries["security"][1], f"{key}.security",
                             hint="Use starttls (port 587) or ssl (port 465).")
        if values["port"] is None:
            values["port"] = notify_settings.DEFAULT_PORTS[values["security"]]
        values["sender"] = values.pop("from")
        values["to"] = self.addresses(entries, f"{key}.to", line)
        return EmailSettings(**values)

    def addresses(self, entries: Entries, key: str, line: int) -> tuple[str, ...]:
        """`to`: one address, or a list of them."""
        if "to" not in entries:
            raise self.error("missing required key 'to'", line, key, hint="One address, or a list: [a@example.com, "
                             "b@example.com].")
        node = entries["to"][1]
        spec = Field(str, check=notify_settings.address)
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                raise self.error("the list is empty; name at least one address", node, key)
            found: list[str] = []
            for i, item in enumerate(node.value):
                value = self.get({"to": (entries["to"][0], item)}, "to", spec, f"{key}[{i}]", line)
                if value not in found:
                    found.append(value)
            return tuple(found)
        return (self.get(entries, "to", spec, key, line),)


def _kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the value {node.value!r}" if node.tag == _STR else f"the {_TAG_WORDS.get(node.tag, 'value')} {node.value!r}"
