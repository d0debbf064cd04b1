# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""No secret reaches any output, log, report or leftover file, on any path a run can take.

One test runs every playbook (provision; rotate with force; a rotate whose Vault
token cannot write the store, so that minting is rolled back; reconcile; offboard)
at -vvvv with --diff, on a catalog with one identity of each kind and one that
policy denies. Ansible's log goes to a file, its local and remote temp folders
and TMPDIR to test directories, and ANSIBLE_KEEP_REMOTE_FILES=1 keeps the module
payloads on disk. After every step the minted secrets are read back from Vault
with a raw hvac client (previous versions are read before the next step destroys
them); with the connection secrets of the run (Vault tokens, the SCIM bearer
token, the GCP access token, the AWS admin key) they are then searched for, raw
and in the encodings a leak would take (JSON-escaped, base64, URL-encoded; each
base64 line of a PEM key), in stdout, stderr (the diffs included), every file of
the evidence directory, the Ansible log, and every file under the temp folders
(module payload zips unpacked).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pathlib
import re
import shutil
import tempfile
import time
import urllib.parse
import uuid
import zipfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".run" / "backends.env"
MOUNT = "secret"
_ZIPDATA_RE = re.compile(rb"zip_data='([A-Za-z0-9+/=]+)'")


# --- what counts as a secret, and how it could show up ---------------------------------------

class Secrets(object):
    """Secret values by label, with the forms in which a leak could carry them."""

    def __init__(self):
        self.needles = {}  # bytes -> label

    def add(self, label, value):
        if not isinstance(value, str) or len(value) < 12:
            return
        forms = {value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe=""),
                 base64.b64encode(value.encode()).decode()}
        if value.lstrip().startswith("-----BEGIN") and "PRIVATE KEY" in value:
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 24 and not line.startswith("-----"):
                    forms.add(line)
        for form in forms:
            if len(form) >= 12:
                self.needles.setdefault(form.encode(), label)

    def add_stored(self, label, data):
        """The secret fields of one stored KV version (never the ids)."""
        for field in ("secret_access_key", "secret_id", "password", "token"):
            self.add("%s.%s" % (label, field), data.get(field))
        if data.get("private_key_json"):
            text = data["private_key_json"]
            self.add("%s.private_key_json" % label, text)
            try:
                self.add("%s.private_key" % label, json.loads(text)["private_key"])
            except (ValueError, KeyError, TypeError):
                pass

    def labels(self):
        return sorted(set(self.needles.values()))

    def find(self, data):
        """Yield (label, offset, needle) for every secret form found in ``data`` (bytes)."""
        for needle, label in self.needles.items():
            offset = data.find(needle)
            if offset >= 0:
                yield label, offset, needle


# --- where a secret could land ------------------------------------------------------------

def _blobs_of_file(path):
    """The file's bytes, plus every member of the module payload zip it embeds (AnsiballZ)."""
    data = path.read_bytes()
    yield str(path), data
    for match in _ZIPDATA_RE.finditer(data):
        try:
            archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(match.group(1))))
        except (ValueError, zipfile.BadZipFile):
            continue
        for member in archive.namelist():
            yield "%s!%s" % (path, member), archive.read(member)


class Places(object):
    def __init__(self):
        self.texts = []     # (label, bytes)
        self.dirs = []      # directories scanned in full
        self.files = []     # single files scanned in full

    def blobs(self):
        for label, data in self.texts:
            yield label, data
        for path in self.files:
            if path.is_file():
                yield from _blobs_of_file(path)
        for root in self.dirs:
            for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
                yield from _blobs_of_file(path)


def _context(data, offset, length, width=60):
    """The text around a hit, with the secret itself masked."""
    before = data[max(0, offset - width):offset].decode("utf-8", "replace")
    after = data[offset + length:offset + length + width].decode("utf-8", "replace")
    return "%r<SECRET>%r" % (before, after)


# --- the backends -------------------------------------------------------------------------

def _catalog(tmp_path, names, prefix):
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    identities = [
        {"name": names["aws"], "kind": "aws_iam_user", "purpose": "hygiene", "aws": {"path": "/nhi-hygiene/"}},
        {"name": names["approle"], "kind": "vault_approle", "purpose": "hygiene",
         "vault": {"token_policies": ["default"], "token_ttl": "1h"}},
        {"name": names["gcp"], "kind": "gcp_service_account", "purpose": "hygiene",
         "gcp": {"project": "nhi-hygiene", "account_id": names["gcp"], "display_name": "hygiene"}},
        {"name": names["scim"], "kind": "scim_service_user", "purpose": "hygiene", "scim": {"display_name": "hygiene"}},
        # Denied by the baseline rule nhi.baseline.prod_approval (production without an approval).
        {"name": names["denied"], "kind": "aws_iam_user", "purpose": "hygiene", "environment": "prod",
         "aws": {"path": "/nhi-hygiene/"}},
    ]
    (inv / "hygiene.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "owner": "team-hygiene",
                     "store": {"mount": MOUNT, "path_prefix": prefix}},
        "identities": identities}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({"nhi_policy_rules": [],
                                                                          "nhi_exceptions": []}))
    return inv


def _read_versions(vault, path):
    """Every live version of a KV v2 secret: {version: data}."""
    try:
        meta = vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point=MOUNT)["data"]
    except Exception:  # pylint: disable=broad-except  # gone (offboarded) or never stored
        return {}
    out = {}
    for version, info in meta["versions"].items():
        if info.get("destroyed") or info.get("deletion_time"):
            continue
        response = vault.secrets.kv.v2.read_secret_version(path=path, mount_point=MOUNT, version=int(version),
                                                           raise_on_deleted_version=False)
        data = (response.get("data") or {}).get("data")
        if data:
            out[int(version)] = data
    return out


READ_ONLY_POLICY = """
path "{mount}/data/{prefix}/*"     {{ capabilities = ["read"] }}
path "{mount}/metadata/{prefix}/*" {{ capabilities = ["read", "list"] }}
path "{mount}/data/nhi-locks/*"     {{ capabilities = ["create", "read", "update", "delete"] }}
path "{mount}/metadata/nhi-locks/*" {{ capabilities = ["read", "update", "delete", "list"] }}
path "{mount}/delete/nhi-locks/*"   {{ capabilities = ["update"] }}
path "auth/approle/role/*"          {{ capabilities = ["create", "read", "update", "delete", "list"] }}
"""


@pytest.fixture
def short_tmpdir():
    """A TMPDIR with a short path. Python's multiprocessing puts a Unix socket in TMPDIR (ansible-core's
    local RPC host uses one), and a socket path may hold 107 bytes at most: under pytest-xdist tmp_path
    is long enough to break it, and ansible-playbook then fails before any play."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="nhi-hyg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_no_secret_reaches_any_output_log_report_or_temp_file(tmp_path, short_tmpdir, backends, run_playbook, vault,
                                                              unique_name):
    started = time.monotonic()
    if not backends.get("NHI_GCP_ACCESS_TOKEN"):
        pytest.fail("%s has no NHI_GCP_ACCESS_TOKEN: the GCP IAM stand-in's token is needed to provision the "
                    "gcp_service_account identity; restart the backends ('make backends-stop backends-start')"
                    % ENV_FILE, pytrace=False)
    run_suffix = uuid.uuid4().hex[:8]
    names = {kind: unique_name("hyg-%s" % kind) for kind in ("aws", "approle", "gcp", "scim", "denied")}
    prefix = "nhi/hygiene-%s" % run_suffix
    inv = _catalog(tmp_path, names, prefix)

    dirs = {name: tmp_path / name for name in ("local-tmp", "remote-tmp", "ansible-home")}
    for path in dirs.values():
        path.mkdir()
    dirs["tmpdir"] = short_tmpdir
    log_file = tmp_path / "ansible.log"
    env = {
        "ANSIBLE_LOG_PATH": str(log_file),
        "ANSIBLE_LOCAL_TEMP": str(dirs["local-tmp"]),
        "ANSIBLE_REMOTE_TEMP": str(dirs["remote-tmp"]),
        "ANSIBLE_HOME": str(dirs["ansible-home"]),
        "TMPDIR": str(dirs["tmpdir"]),
        "ANSIBLE_KEEP_REMOTE_FILES": "1",
        "NHI_PROGRESS": "0",
    }

    secrets = Secrets()
    for name in ("VAULT_TOKEN", "NHI_SCIM_TOKEN", "NHI_GCP_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        secrets.add("connection.%s" % name, backends.get(name))
    places = Places()
    places.files.append(log_file)
    places.dirs.extend(dirs.values())
    runs = []

    def collect(step):
        for kind in ("aws", "approle", "gcp", "scim"):
            for version, data in _read_versions(vault, "%s/%s" % (prefix, names[kind])).items():
                secrets.add_stored("%s@%s.v%d" % (kind, step, version), data)

    def play(step, playbook, **kwargs):
        result = run_playbook(playbook, inventory=inv, verbosity=4, diff=True,
                              env=dict(env, **kwargs.pop("env", {})), **kwargs)
        assert result.rc in (0, 2), "%s: ansible-playbook crashed (rc %d)\n%s\n%s" % (
            step, result.rc, result.stdout[-4000:], result.stderr[-2000:])
        places.texts.append(("%s: stdout" % step, result.stdout.encode()))
        places.texts.append(("%s: stderr" % step, result.stderr.encode()))
        assert result.evidence_dir is not None, "%s wrote no evidence" % step
        runs.append((step, result))
        return result

    # 1. provision: every identity but the denied one gets a stored credential.
    provision = play("provision", "playbooks/provision.yml")
    collect("provision")
    denied = [r for r in provision.evidence_records() if r.get("identity") == names["denied"]
              and r.get("step") == "policy"]
    assert denied and denied[0]["outcome"] == "denied", "the prod identity was not denied"
    for kind in ("aws", "approle", "gcp", "scim"):
        assert _read_versions(vault, "%s/%s" % (prefix, names[kind])), "provision stored nothing for %s" % kind

    # 2. rotate with force: new versions; the previous ones were read above, before they are destroyed.
    play("rotate", "playbooks/rotate.yml", extra_vars={"nhi_rotate_force": True})
    collect("rotate")

    # 3. rotate with a Vault token that cannot write the store: minted credentials are rolled back.
    policy_name = "nhi-hygiene-read-only-%s" % run_suffix
    vault.sys.create_or_update_policy(name=policy_name,
                                      policy=READ_ONLY_POLICY.format(mount=MOUNT, prefix=prefix))
    token = vault.auth.token.create(policies=[policy_name], ttl="15m", no_default_policy=False)["auth"]
    secrets.add("connection.read_only_vault_token", token["client_token"])
    try:
        failing = play("rotate-read-only-store", "playbooks/rotate.yml", extra_vars={"nhi_rotate_force": True},
                       env={"VAULT_TOKEN": token["client_token"]})
    finally:
        vault.auth.token.revoke_accessor(token["accessor"])
        vault.sys.delete_policy(name=policy_name)
    assert failing.rc != 0, "a rotation whose store is read-only must fail"
    failed_stores = [r for r in failing.evidence_records() if r.get("step") == "store" and r.get("outcome") == "failed"]
    assert failed_stores, "the read-only store did not make any store step fail:\n%s" % failing.stdout[-3000:]
    rolled_back = {r["identity"] for r in failing.evidence_records() if r.get("step") == "rollback"}
    assert {names["aws"], names["approle"], names["gcp"]} <= rolled_back, \
        "the minted credentials were not rolled back: %s" % sorted(rolled_back)
    collect("rotate-read-only-store")

    # 4. reconcile (read-only) when the playbook exists; 5. offboard.
    if (ROOT / "playbooks" / "reconcile.yml").is_file():
        play("reconcile", "playbooks/reconcile.yml")
    play("offboard", "playbooks/offboard.yml")
    for kind in ("aws", "approle", "gcp", "scim"):
        assert _read_versions(vault, "%s/%s" % (prefix, names[kind])) == {}, "offboard left %s stored" % kind

    # Every run's evidence directory, in full.
    places.dirs.extend(sorted({result.evidence_dir for _step, result in runs}))

    # The collection must have found what it is looking for, or the test proves nothing.
    labels = secrets.labels()
    for kind in ("aws", "approle", "gcp", "scim"):
        got = [label for label in labels if label.startswith(kind + "@")]
        assert any("@provision" in label for label in got) and any("@rotate." in label for label in got), \
            "no %s secret was collected after provision and rotate: %s" % (kind, got)
    assert any(label.endswith(".private_key") for label in labels)
    assert b"--- before" in b"".join(data for label, data in places.texts) or \
        b"\"before\"" in b"".join(data for label, data in places.texts), "no diff was shown at all"
    assert log_file.is_file() and log_file.stat().st_size > 0, "ANSIBLE_LOG_PATH was not written"
    payloads = list(dirs["remote-tmp"].rglob("AnsiballZ_*.py")) + list(dirs["local-tmp"].rglob("AnsiballZ_*.py"))
    assert payloads, "ANSIBLE_KEEP_REMOTE_FILES=1 kept no module payload; the temp folders were not used"

    # The detector itself: a secret inside JSON, and one PEM line of a stored key file, are found.
    some = next(n for n, label in secrets.needles.items() if label.startswith("aws@provision"))
    assert any(True for _hit in secrets.find(json.dumps({"leak": some.decode()}).encode()))
    pem_line = next(n for n, label in secrets.needles.items() if label.endswith(".private_key") and len(n) == 64)
    assert any(True for _hit in secrets.find(b'{"k": "...\\n' + pem_line + b'\\n..."}'))

    leaks, scanned, size = [], 0, 0
    for place, data in places.blobs():
        scanned += 1
        size += len(data)
        for label, offset, needle in secrets.find(data):
            leaks.append("%s at offset %d: %s (sha256 %s...) %s" % (
                place, offset, label, hashlib.sha256(needle).hexdigest()[:12], _context(data, offset, len(needle))))
    assert not leaks, "SECRET LEAK: %d occurrence(s) of %d secret forms in %d places (%d bytes):\n%s" % (
        len(leaks), len(secrets.needles), scanned, size, "\n".join(leaks[:50]))
    assert scanned > 20 and size > 100_000, "too little was scanned to mean anything (%d places)" % scanned
    elapsed = time.monotonic() - started
    print("secret hygiene: %d secrets (%d forms) searched in %d places, %.1f MB, %.0f s; steps: %s" % (
        len(labels), len(secrets.needles), scanned, size / 1e6, elapsed, ", ".join(step for step, _r in runs)))
