"""`mlconnector selfcheck`: is everything the integrations need at run time really there?

Meant first for the single-file binary (PyInstaller): a module, a data file, a keyring backend's
entry point or a package's metadata that the build left out shows up only when the code path that
needs it runs, maybe weeks later at a customer. This imports and exercises each of them once:
versions, every system client and pair, the keyring backends, a state file, the packaged data
files, lxml's XML Schema, zeep, and the CA file TLS uses. It never touches the network and needs
no configuration file; what it writes goes to a temporary directory that it removes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import platform
import secrets
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mlconnector import __version__

# The distributions whose code runs in mlconnector: pyproject's [project] dependencies (a test
# keeps the two lists equal) and certifi, whose CA file httpx verifies TLS with.
RUNTIME_DISTRIBUTIONS = ("typer", "httpx", "zeep", "lxml", "keyring", "cryptography", "pyyaml", "rich",
                         "tenacity", "certifi")
# keyring's Secret Service backend needs these on Linux (they are keyring's own requirements there).
LINUX_KEYRING_DISTRIBUTIONS = ("secretstorage", "jeepney")
# The files `mlconnector demo` and the Intacct simulator open (sandbox/__init__.py says what each is).
REQUIRED_DATA = ("projects.csv", "costcodes.csv", "costcodes-extra.csv", "intacct-projects.csv",
                 "glaccounts.csv", "glaccounts-extra.csv", "intacct/api.v3.0.xsd")
# Backends that store nothing: keyring picks them when it finds no OS keyring, or when told to.
_NOT_A_STORE = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")


@dataclass(frozen=True)
class Check:
    """One line of the report. ``warning`` marks a passing check a person may want to act on."""

    area: str
    name: str
    ok: bool
    detail: str
    warning: bool = False

    @property
    def result(self) -> str:
        if not self.ok:
            return "FAILED"
        return "warning" if self.warning else "ok"


def run_selfcheck(workdir: Path | None = None) -> list[Check]:
    """Every check, in order; files go to ``workdir`` (a new temporary directory when None)."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return _run_all(workdir)
    with tempfile.TemporaryDirectory(prefix="mlconnector-selfcheck-") as tmp:
        return _run_all(Path(tmp))


def passed(checks: Iterable[Check]) -> bool:
    return all(c.ok for c in checks)


def _run_all(workdir: Path) -> list[Check]:
    checks: list[Check] = []
    for area, run in (("versions", _versions), ("systems", _systems), ("keyring", _keyring),
                      ("state", _state), ("data", _data), ("soap/tls", _soap_tls)):
        try:
            checks.extend(run(workdir))
        except Exception as exc:  # noqa: BLE001 - a check that blows up is a failed check, not a traceback
            checks.append(Check(area, "(check crashed)", False, _failure(exc)))
    return checks


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _guarded(area: str, name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - reported as the row's failure
        return Check(area, name, False, _failure(exc))


# --- versions ------------------------------------------------------------------------------------


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except Exception:  # noqa: BLE001 - PackageNotFoundError, or metadata too damaged to read
        return None


def _versions(_workdir: Path) -> list[Check]:
    area = "versions"
    checks = []
    meta = _distribution_version("mlconnector")
    if meta is None:
        checks.append(Check(area, "mlconnector", False, f"{__version__}, but its package metadata is missing "
                            "(install it with pip, or build the binary from an installed package)"))
    elif meta != __version__:
        checks.append(Check(area, "mlconnector", False,
                            f"code {__version__}, package metadata {meta}: a stale install; reinstall it"))
    else:
        checks.append(Check(area, "mlconnector", True, __version__))
    checks.append(Check(area, "python", True, f"{platform.python_version()} ({platform.python_implementation()})"))
    checks.append(Check(area, "platform", True, f"{platform.platform()} {platform.machine()}"))
    frozen = getattr(sys, "frozen", False)
    if frozen:
        bundle = getattr(sys, "_MEIPASS", None)
        checks.append(Check(area, "build", True, f"single-file binary {sys.executable}"
                            + (f", unpacked in {bundle}" if bundle else "")))
    else:
        checks.append(Check(area, "build", True, f"source: {Path(__file__).resolve().parent}"))
    from mlconnector.state._state import MIN_SQLITE

    sqlite_ok = sqlite3.sqlite_version_info >= MIN_SQLITE
    checks.append(Check(area, "sqlite", sqlite_ok, sqlite3.sqlite_version + (
        "" if sqlite_ok else f"; mlconnector needs {'.'.join(map(str, MIN_SQLITE))} or newer")))
    names = RUNTIME_DISTRIBUTIONS + (LINUX_KEYRING_DISTRIBUTIONS if sys.platform.startswith("linux") else ())
    for name in names:
        checks.append(_guarded(area, name, lambda name=name: _dependency(area, name)))
    return checks


def _dependency(area: str, name: str) -> Check:
    version = _distribution_version(name)
    if version is None:
        # keyring finds its backends through entry points in this metadata; zeep reads its version.
        return Check(area, name, False, "package metadata missing (the binary must carry its .dist-info)")
    extra = ""
    if name == "lxml":
        from lxml import etree

        extra = f" (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}, libxslt "\
                f"{'.'.join(map(str, etree.LIBXSLT_VERSION))})"
    elif name == "cryptography":
        from cryptography.hazmat.backends.openssl.backend import backend

        extra = f" ({backend.openssl_version_text()})"
    elif name == "rich":
        from rich.cells import cell_len

        # Column widths of non-ASCII text come from data modules rich imports by name at run time.
        if cell_len("名前") != 4:
            return Check(area, name, False, f"{version}, but it measures wide characters wrongly")
        extra = " (wide characters measured)"
    return Check(area, name, True, version + extra)


# --- systems and pairs ---------------------------------------------------------------------------


def _systems(_workdir: Path) -> list[Check]:
    from mlconnector.config import KINDS

    area = "systems"
    checks = []
    done: set[str] = set()
    for kind in KINDS:
        package = f"mlconnector.systems.{kind}"
        checks.append(_guarded(area, kind, lambda package=package: _import_tree(
            area, package.rsplit(".", 1)[1], package, required=(f"{package}.client", f"{package}.settings"),
            done=done)))
    import mlconnector.pairs

    for info in sorted(pkgutil.iter_modules(mlconnector.pairs.__path__), key=lambda i: i.name):
        if info.ispkg:  # a pair; the modules beside them are helpers the pairs share
            package = f"mlconnector.pairs.{info.name}"
            checks.append(_guarded(area, f"pair {info.name}", lambda package=package, name=info.name: _import_tree(
                area, f"pair {name}", package, required=(), done=done)))
    # Everything else the commands import lazily (the CLI, the engine, the sandbox simulators).
    checks.append(_guarded(area, "other modules", lambda: _import_tree(area, "other modules", "mlconnector",
                                                                         required=(), done=done)))
    return checks


def _import_tree(area: str, name: str, package: str, *, required: tuple[str, ...], done: set[str]) -> Check:
    """Import ``package`` and every module under it (``required`` ones first, by name)."""
    root = importlib.import_module(package)
    modules = list(required)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.", onerror=lambda _name: None):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running one starts a program
            continue
        if info.name not in modules:
            modules.append(info.name)
    count = 0
    for module in [package, *modules]:
        if module in done:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - name the module: the error alone may name only its import
            return Check(area, name, False, f"importing {module}: {_failure(exc)}")
        done.add(module)
        count += 1
    if package == "mlconnector":
        return Check(area, name, True, f"{count} more modules imported")
    short = ", ".join(m.rsplit(".", 1)[1] for m in required)
    return Check(area, name, True, f"{count} modules imported" + (f" ({short} among them)" if short else ""))


# --- keyring -------------------------------------------------------------------------------------


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _keyring(workdir: Path) -> list[Check]:
    import keyring.backend

    area = "keyring"
    checks = []
    entry_points = sorted(ep.name for ep in importlib.metadata.entry_points(group="keyring.backends"))
    if entry_points:
        checks.append(Check(area, "entry points", True, f"{len(entry_points)}: {', '.join(entry_points)}"))
    else:
        checks.append(Check(area, "entry points", False, "keyring found no backend entry points (group "
                            "keyring.backends): keyring's package metadata is missing from this build"))
    try:
        viable = {_qualname(type(b)): b for b in keyring.backend.get_all_keyring()}  # also loads the plugins
    except Exception as exc:  # noqa: BLE001 - third-party backends raise anything
        checks.append(Check(area, "backends", False, f"keyring could not list its backends ({_failure(exc)})"))
        viable = {}
    # Backends that are not viable here (Windows on Linux, Secret Service without D-Bus) are normal:
    # they are listed with keyring's reason so a missing dependency shows.
    known = {_qualname(cls): cls for cls in getattr(keyring.backend.KeyringBackend, "_classes", ())}
    for name in sorted(set(known) | set(viable)):
        if name in _NOT_A_STORE:
            continue
        if name in viable:
            checks.append(Check(area, name, True, f"viable, priority {viable[name].priority:g}"))
        else:
            checks.append(Check(area, name, True, f"not viable here: {_why_not_viable(known[name])}"))
    checks.append(_guarded(area, "chosen", lambda: _chosen_keyring(area)))
    checks.append(_guarded(area, "encrypted file", lambda: _file_round_trip(area, workdir)))
    return checks


def _why_not_viable(cls: type) -> str:
    try:
        cls.priority  # noqa: B018 - a backend raises here when it cannot work on this machine
    except Exception as exc:  # noqa: BLE001 - the backend's own reason, whatever its type
        return _failure(exc)
    return "keyring could not construct it"


def _chosen_keyring(area: str) -> Check:
    from mlconnector.secrets._file import PASSPHRASE_ENV
    from mlconnector.secrets._keyring import KeyringBackend

    ok, detail = KeyringBackend().available()
    if ok:
        return Check(area, "chosen", True, detail)
    # Legitimate on a headless server (cron, SSH, a service account): the chain goes on.
    return Check(area, "chosen", True, f"no OS keyring: {detail}. Credentials come from the environment or the "
                 f"encrypted file (set {PASSPHRASE_ENV})", warning=True)


def _file_round_trip(area: str, workdir: Path) -> Check:
    from mlconnector.secrets._file import FileBackend

    path = workdir / "credentials.enc"
    passphrase, value = secrets.token_urlsafe(16), secrets.token_urlsafe(16)  # throwaway, never shown
    FileBackend(path, passphrase).set("selfcheck", "probe", value)
    if FileBackend(path, passphrase).get("selfcheck", "probe") != value:  # a fresh key derivation
        return Check(area, "encrypted file", False, "a value written to the encrypted file did not read back")
    detail = "AES-256-GCM with scrypt: a value written, read back with a new key derivation"
    problem = _permission_problem(path)
    path.unlink()
    if problem:
        return Check(area, "encrypted file", False, f"{detail}; but {problem}")
    return Check(area, "encrypted file", True, detail)


def _permission_problem(path: Path) -> str | None:
    if os.name != "posix":
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    return None if mode == 0o600 else f"{path.name} has mode {mode:04o}, not 0600"


# --- state ---------------------------------------------------------------------------------------


def _state(workdir: Path) -> list[Check]:
    from mlconnector.state import SCHEMA_VERSION, open_state

    area = "state"
    path = workdir / "selfcheck.db"
    state = open_state(path)
    try:
        version = state.schema_version
    finally:
        state.close()
    problem = _permission_problem(path)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    checks = [Check(area, "migrations", version == SCHEMA_VERSION,
                    f"a new state file opened at schema version {version}"
                    + ("" if version == SCHEMA_VERSION else f", expected {SCHEMA_VERSION}"))]
    if os.name == "posix":
        checks.append(Check(area, "permissions", problem is None, problem or "0600 (owner read/write only)"))
    return checks


# --- packaged data -------------------------------------------------------------------------------


def _data(_workdir: Path) -> list[Check]:
    from mlconnector import xmlsafe
    from mlconnector.sandbox import DATA_DIR
    from mlconnector.sandbox.intacct import SCHEMA_PATH

    area = "data"
    files = sorted(p for p in DATA_DIR.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files)
    missing = [name for name in REQUIRED_DATA if not (DATA_DIR / name).is_file()]
    detail = f"{len(files)} files, {size:,} bytes in {DATA_DIR}"
    checks = [Check(area, "sandbox data", not missing,
                    detail + (f"; missing: {', '.join(missing)}" if missing else ""))]

    def compile_xsd() -> Check:
        started = time.perf_counter()
        xmlsafe.schema(SCHEMA_PATH)
        return Check(area, "Intacct XSD", True, f"{SCHEMA_PATH.name} compiled as an XML Schema by lxml "
                     f"in {time.perf_counter() - started:.2f} s")

    checks.append(_guarded(area, "Intacct XSD", compile_xsd))
    return checks


# --- zeep (SOAP) and TLS ---------------------------------------------------------------------------

# The smallest document/literal WSDL 1.1 that zeep turns into a service with one operation.
_WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions name="Selfcheck" targetNamespace="urn:mlconnector:selfcheck"
    xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="urn:mlconnector:selfcheck" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types>
    <xsd:schema targetNamespace="urn:mlconnector:selfcheck" elementFormDefault="qualified">
      <xsd:element name="Ping">
        <xsd:complexType><xsd:sequence><xsd:element name="text" type="xsd:string"/></xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="PingResponse">
        <xsd:complexType><xsd:sequence><xsd:element name="text" type="xsd:string"/></xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="PingIn"><part name="parameters" element="tns:Ping"/></message>
  <message name="PingOut"><part name="parameters" element="tns:PingResponse"/></message>
  <portType name="SelfcheckPortType">
    <operation name="Ping"><input message="tns:PingIn"/><output message="tns:PingOut"/></operation>
  </portType>
  <binding name="SelfcheckBinding" type="tns:SelfcheckPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="Ping">
      <soap:operation soapAction="urn:mlconnector:selfcheck#Ping"/>
      <input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="SelfcheckService">
    <port name="SelfcheckPort" binding="tns:SelfcheckBinding">
      <soap:address location="https://soap.invalid/selfcheck"/>
    </port>
  </service>
</definitions>
"""


def _soap_tls(workdir: Path) -> list[Check]:
    area = "soap/tls"
    return [_guarded(area, "zeep", lambda: _zeep(area, workdir)), _guarded(area, "CA file", lambda: _ca_file(area))]


def _zeep(area: str, workdir: Path) -> Check:
    import zeep
    from lxml import etree

    wsdl = workdir / "selfcheck.wsdl"
    wsdl.write_text(_WSDL, encoding="utf-8")
    try:
        client = zeep.Client(str(wsdl))
        # Builds the SOAP envelope an operation would send; nothing is sent.
        envelope = client.create_message(client.service, "Ping", text="selfcheck")
    finally:
        wsdl.unlink()
    body = etree.tostring(envelope)
    if b"selfcheck</" not in body:
        return Check(area, "zeep", False, "zeep built a SOAP envelope without the value given")
    return Check(area, "zeep", True, f"zeep {zeep.__version__} read a WSDL and built a SOAP envelope (no request "
                 "sent); mlconnector ships no WSDL files yet")


def _ca_file(area: str) -> Check:
    import certifi
    import httpx

    path = Path(certifi.where())
    if not path.is_file():
        return Check(area, "CA file", False, f"certifi's CA file {path} is missing: TLS verification would fail")
    # httpx verifies every connection against this file when no ca_bundle is configured.
    context = httpx.create_ssl_context()
    count = context.cert_store_stats().get("x509_ca", 0)
    if not count:
        return Check(area, "CA file", False, f"{path} holds no CA certificate")
    return Check(area, "CA file", True, f"{count} CA certificates loaded by httpx from {path}")
