# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Shared pieces of the reliability tests (faults, crashes, races).

TEST INFRASTRUCTURE ONLY, like ``proxy.py``. It writes small catalogs and
wrapper playbooks, and checks the crash/race invariants with independent
clients (raw boto3 and hvac, never the collection's own code):

* every identity has exactly one IAM key, Active, and it is the stored one,
  and it works (STS GetCallerIdentity signed with it);
* no old key still works;
* no KV version other than the current one still holds data;
* an offboarded identity has no IAM user, no key and no stored copy.
"""

from __future__ import annotations

import collections
import pathlib
import re

import yaml

STORE_PREFIX = "nhi/itest"


def write_catalog(directory, identities, environment="dev"):
    """An inventory directory with one ``*.nhi.yml``; ``identities`` are names or dicts."""
    inv = pathlib.Path(directory)
    (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    items = []
    for ident in identities:
        if isinstance(ident, str):
            ident = aws_identity(ident)
        items.append(ident)
    (inv / "reliability.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": environment, "owner": "team-test",
                     "store": {"mount": "secret", "path_prefix": STORE_PREFIX}},
        "identities": items}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({
        "nhi_policy_rules": [], "nhi_exceptions": []}))
    return inv


def aws_identity(name):
    return {"name": name, "kind": "aws_iam_user", "purpose": "reliability test", "aws": {"path": "/nhi-test/"}}


def scim_identity(name):
    return {"name": name, "kind": "scim_service_user", "purpose": "reliability test",
            "scim": {"display_name": "Reliability %s" % name, "groups": []}}


MODULES_AWS = ("nhi.lifecycle.aws_iam_user", "nhi.lifecycle.aws_access_key")
MODULES_VAULT = ("nhi.lifecycle.aws_access_key", "nhi.lifecycle.vault_kv_secret", "nhi.lifecycle.scim_service_user")


def write_playbooks(directory, aws=None, vault=None):
    """``provision.yml``, ``rotate.yml`` and ``offboard.yml`` that import the collection's roles.

    ``aws`` and ``vault`` are module options (``aws_timeout``, ``aws_max_attempts``,
    ``vault_timeout``, ``vault_retries``...) given to every lifecycle module
    that takes them, through the play's ``module_defaults``.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    defaults = collections.OrderedDict()
    for module in MODULES_AWS:
        defaults.setdefault(module, {}).update(aws or {})
    for module in MODULES_VAULT:
        defaults.setdefault(module, {}).update(vault or {})
    defaults = {k: v for k, v in defaults.items() if v}
    out = {}
    for event in ("provision", "rotate", "offboard"):
        play = {"name": "%s (reliability test)" % event, "hosts": "nhi", "gather_facts": False,
                "tasks": [{"name": "Run the %s role" % event,
                           "ansible.builtin.import_role": {"name": "nhi.lifecycle.%s" % event,
                                                           "rolespec_validate": False}}]}
        if defaults:
            play["module_defaults"] = defaults
        path = directory / ("%s.yml" % event)
        path.write_text(yaml.safe_dump([play], sort_keys=False))
        out[event] = path
    return out


# --- independent checks -------------------------------------------------------

def store_path(name):
    return "%s/%s" % (STORE_PREFIX, name)


def kv_metadata(vault, name):
    import hvac.exceptions  # pylint: disable=import-outside-toplevel
    try:
        return vault.secrets.kv.v2.read_secret_metadata(path=store_path(name), mount_point="secret")["data"]
    except hvac.exceptions.InvalidPath:
        return None


def stored(vault, name, version=None):
    """The stored key pair (current or ``version``), or None when there is none."""
    import hvac.exceptions  # pylint: disable=import-outside-toplevel
    try:
        response = vault.secrets.kv.v2.read_secret_version(path=store_path(name), mount_point="secret",
                                                           version=version, raise_on_deleted_version=False)
    except hvac.exceptions.InvalidPath:
        return None
    data = (response or {}).get("data") or {}
    meta = data.get("metadata") or {}
    if meta.get("deletion_time") or meta.get("destroyed"):
        return None
    return data.get("data")


def live_versions(vault, name):
    """KV versions of the identity's store that still hold data: ``(current, [versions])``."""
    meta = kv_metadata(vault, name)
    if not meta:
        return None, []
    live = sorted(int(v) for v, m in meta["versions"].items() if not m["destroyed"] and not m["deletion_time"])
    return meta["current_version"], live


def works(aws_client_factory, access_key_id, secret):
    import botocore.exceptions  # pylint: disable=import-outside-toplevel
    sts = aws_client_factory("sts", aws_access_key_id=access_key_id, aws_secret_access_key=secret)
    try:
        sts.get_caller_identity()
        return True
    except botocore.exceptions.ClientError:
        return False


def keys_of(iam, name):
    """``[(key id, status)]`` of an IAM user, or None when the user does not exist."""
    try:
        return sorted((k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"])
    except iam.exceptions.NoSuchEntityException:
        return None


def rotation_problems(iam, vault, aws_client_factory, name, seen_secrets=()):
    """What breaks the rotation invariants for one live identity ([] when none)."""
    problems = []
    data = stored(vault, name)
    keys = keys_of(iam, name)
    if keys is None:
        return ["%s: the IAM user does not exist" % name]
    if not data:
        return ["%s: no stored credential (keys %s)" % (name, keys)]
    if keys != [(data["access_key_id"], "Active")]:
        problems.append("%s: keys %s, but exactly the stored %s Active was expected" % (name, keys, data["access_key_id"]))
    if not works(aws_client_factory, data["access_key_id"], data["secret_access_key"]):
        problems.append("%s: the stored key %s does not work" % (name, data["access_key_id"]))
    for key_id, secret in dict(seen_secrets).items():
        if key_id != data["access_key_id"] and works(aws_client_factory, key_id, secret):
            problems.append("%s: the old key %s still works" % (name, key_id))
    current, live = live_versions(vault, name)
    if live != [current]:
        problems.append("%s: KV versions %s still hold data (current %s)" % (name, live, current))
    custom = (kv_metadata(vault, name) or {}).get("custom_metadata") or {}
    if custom.get("access_key_id") != data["access_key_id"]:
        problems.append("%s: the custom metadata names %s, the store holds %s"
                        % (name, custom.get("access_key_id"), data["access_key_id"]))
    return problems


def offboard_problems(iam, vault, aws_client_factory, name, seen_secrets=()):
    """What breaks the offboarding invariants for one identity ([] when none)."""
    problems = []
    keys = keys_of(iam, name)
    if keys is not None:
        problems.append("%s: the IAM user still exists (keys %s)" % (name, keys))
    if kv_metadata(vault, name) is not None:
        problems.append("%s: the stored copy still exists" % name)
    for key_id, secret in dict(seen_secrets).items():
        if works(aws_client_factory, key_id, secret):
            problems.append("%s: the old key %s still works" % (name, key_id))
    return problems


def remember(vault, names, seen):
    """Add every key pair still readable in the identities' KV history to ``seen[name]``."""
    for name in names:
        meta = kv_metadata(vault, name)
        if not meta:
            continue
        for version in meta["versions"]:
            data = stored(vault, name, version=int(version))
            if data and data.get("access_key_id"):
                seen.setdefault(name, {})[data["access_key_id"]] = data["secret_access_key"]
    return seen


def mint_counts(records):
    """``{identity: n}``: mint records with outcome changed in a run's evidence."""
    out = collections.Counter()
    for record in records:
        if record.get("step") == "mint" and record.get("outcome") == "changed":
            out[record["identity"]] += 1
    return out


OUTCOME_LINE = re.compile(r"^  (changed|unchanged|failed|denied|delegated): \[([^\]]+)\]")


def status_lines(stdout):
    """``{identity: status}`` from the outcome task's per-identity lines (``  changed: [name] ...``)."""
    out = {}
    for line in stdout.splitlines():
        match = OUTCOME_LINE.match(line)
        if match:
            out[match.group(2)] = match.group(1)
    return out


# --- playbooks that can be killed ------------------------------------------------

def playbook_env(backends, evidence_root, extra=None):
    """The environment run_playbook gives ansible-playbook (see tests/integration/conftest.py)."""
    import os  # pylint: disable=import-outside-toplevel
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env.update(backends)
    env.update({"ANSIBLE_CONFIG": str(root / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(root / ".run" / "collections"),
                "NHI_EVIDENCE_ROOT": str(evidence_root), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "PYTHONUNBUFFERED": "1", "NHI_PROGRESS": "0"})
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def spawn_playbook(playbook, inventory, env, extra_vars=None, log=None):
    """Start ansible-playbook in its own process group (so that the whole run can be SIGKILLed)."""
    import json  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    root = pathlib.Path(__file__).resolve().parents[2]
    exe = pathlib.Path(sys.executable).parent / "ansible-playbook"
    if not exe.exists():
        exe = root / ".venv" / "bin" / "ansible-playbook"
    cmd = [str(exe), str(playbook), "-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    out = open(log, "w", encoding="utf-8") if log else subprocess.DEVNULL  # pylint: disable=consider-using-with
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid):
    """``[(pid, cmdline)]`` of every live descendant of ``pid`` (from /proc)."""
    import os  # pylint: disable=import-outside-toplevel
    children = collections.defaultdict(list)
    cmdlines = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as handle:
                stat = handle.read().decode("latin-1")
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdlines[int(entry)] = handle.read().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append((child, cmdlines.get(child, "")))
            todo.append(child)
    return out


def wait_for_module(proc, module, timeout=120.0):
    """Wait until a descendant of ``proc`` runs ``module`` (AnsiballZ_<module>); False if the run ended first."""
    import time  # pylint: disable=import-outside-toplevel
    end = time.monotonic() + timeout
    needle = "AnsiballZ_%s" % module
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if any(needle in cmd for _pid, cmd in descendants(proc.pid)):
            return True
        time.sleep(0.05)
    return False


def kill_group(proc):
    """SIGKILL the run's whole process group; True when it was still running."""
    import os  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel
    alive = proc.poll() is None
    family = [pid for pid, _cmd in descendants(proc.pid)] if alive else []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in family:  # a module in a session of its own, if any, dies too
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    return alive
