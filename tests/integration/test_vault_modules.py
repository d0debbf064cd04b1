# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The Vault modules and the vault_kv lookup against the real OpenBao dev server.

Every playbook runs through ansible-playbook (``run_playbook``); every check
is made with an independent raw hvac client (``vault``, the root token),
never with the module under test. Secrets are read with raw hvac inside the
test only, to prove that logins work and to look for them in the output.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import pathlib
import sys
import threading

import pytest

hvac = pytest.importorskip("hvac")
requests = pytest.importorskip("requests")
from hvac import exceptions as hvac_exc  # noqa: E402

KV = "secret"


# --- helpers ---------------------------------------------------------------------------

class Play(object):
    """Write a one-play playbook on localhost, run it, and return every task's registered result."""

    def __init__(self, run_playbook, tmp_path):
        self.run_playbook = run_playbook
        self.tmp = tmp_path
        self.count = 0
        self.inventory = tmp_path / "hosts.ini"
        self.inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                                  % sys.executable, encoding="utf-8")
        self.outputs = []
        self.last = None

    def __call__(self, tasks, check=False, diff=False, verbosity=0, env=None, vars_files=()):
        self.count += 1
        out = self.tmp / ("results-%d.json" % self.count)
        body = []
        for index, task in enumerate(tasks):
            task = dict(task)
            task.setdefault("register", "r%d" % index)
            task.setdefault("ignore_errors", True)
            body.append(task)
        names = [t["register"] for t in body]
        body.append({"name": "save the results", "check_mode": False,
                     "ansible.builtin.copy": {"dest": str(out), "mode": "0600",
                                              "content": "{{ [%s] | to_json }}" % ", ".join(names)}})
        play = [{"hosts": "localhost", "gather_facts": False, "vars_files": [str(v) for v in vars_files],
                 "tasks": body}]
        path = self.tmp / ("play-%d.yml" % self.count)
        path.write_text(json.dumps(play, indent=1), encoding="utf-8")
        result = self.run_playbook(str(path), inventory=str(self.inventory), check=check, diff=diff,
                                   verbosity=verbosity, env=env)
        result.check(0)
        self.last = result
        self.outputs.append(result.stdout + result.stderr)
        return json.loads(out.read_text(encoding="utf-8"))

    def vars_file(self, data):
        path = self.tmp / ("vars-%d.json" % (self.count + 100))
        path.write_text(json.dumps(data), encoding="utf-8")
        path.chmod(0o600)
        return path


@pytest.fixture
def play(run_playbook, tmp_path):
    return Play(run_playbook, tmp_path)


@pytest.fixture
def cleanup(vault):
    """Delete what a test created, whatever happened."""
    made = {"roles": [], "paths": [], "policies": [], "accessors": []}
    yield made
    for name in made["roles"]:
        try:
            vault.auth.approle.delete_role(name)
        except Exception:  # pylint: disable=broad-except
            pass
    for path in made["paths"]:
        try:
            vault.secrets.kv.v2.delete_metadata_and_all_versions(path, mount_point=KV)
        except Exception:  # pylint: disable=broad-except
            pass
    for name in made["policies"]:
        try:
            vault.sys.delete_policy(name)
        except Exception:  # pylint: disable=broad-except
            pass
    for accessor in made["accessors"]:
        try:
            vault.auth.token.revoke_accessor(accessor)
        except Exception:  # pylint: disable=broad-except
            pass


def role_exists(vault, name):
    try:
        vault.auth.approle.read_role(name)
        return True
    except hvac_exc.InvalidPath:
        return False


def accessors(vault, name):
    try:
        return sorted(vault.auth.approle.list_secret_id_accessors(name)["data"]["keys"])
    except (hvac_exc.InvalidPath, hvac_exc.InvalidRequest):
        return []


def kv_data(vault, path, version=None):
    try:
        resp = vault.secrets.kv.v2.read_secret_version(path, mount_point=KV, version=version,
                                                       raise_on_deleted_version=False)
    except hvac_exc.InvalidPath:
        return None
    return resp["data"]["data"]


def kv_meta(vault, path):
    try:
        return vault.secrets.kv.v2.read_secret_metadata(path, mount_point=KV)["data"]
    except hvac_exc.InvalidPath:
        return None


def login_ok(addr, role_id, secret_id):
    client = hvac.Client(url=addr)
    try:
        resp = client.auth.approle.login(role_id=role_id, secret_id=secret_id, use_token=False)
    except hvac_exc.InvalidRequest:
        return False
    hvac.Client(url=addr, token=resp["auth"]["client_token"]).auth.token.revoke_self()
    return True


def token_ok(addr, token):
    try:
        hvac.Client(url=addr, token=token).auth.token.lookup_self()
        return True
    except hvac_exc.Forbidden:
        return False


def token_alive(vault, accessor):
    try:
        vault.auth.token.lookup_accessor(accessor)
        return True
    except hvac_exc.InvalidRequest:
        return False


def limited_token(vault, cleanup, name, hcl):
    vault.sys.create_or_update_policy(name, hcl)
    cleanup["policies"].append(name)
    auth = vault.auth.token.create(policies=[name], ttl="15m")["auth"]
    cleanup["accessors"].append(auth["accessor"])
    return auth["client_token"]


def steps(result):
    return [e["step"] for e in result["evidence"]]


def approle_task(name, **extra):
    args = {"role_name": name, "token_policies": ["nhi-it"], "token_ttl": "1h", "token_max_ttl": "4h",
            "store": {"mount": KV, "path": "nhi/it/%s" % name}, "proof_deadline": 5}
    args.update(extra)
    return {"nhi.lifecycle.vault_approle": args}


def token_task(path, **extra):
    args = {"policies": ["nhi-it"], "ttl": "1h", "display_name": "nhi-it", "store": {"mount": KV, "path": path},
            "proof_deadline": 5}
    args.update(extra)
    return {"nhi.lifecycle.vault_token": args}


class InterceptingProxy(object):
    """Forward everything to Vault; right after forwarding the first request that ``trigger``
    matches, run ``hook`` (a concurrent writer at exactly the wrong moment)."""

    def __init__(self, upstream, trigger, hook):
        self.upstream, self.trigger, self.hook, self.fired = upstream.rstrip("/"), trigger, hook, False
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                resp = requests.request(self.command, proxy.upstream + self.path, headers=headers, data=body,
                                        timeout=30)
                if not proxy.fired and proxy.trigger(self.command, self.path):
                    proxy.fired = True
                    proxy.hook()
                self.send_response(resp.status_code)
                for key, value in resp.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = forward

            def log_message(self, *args):  # noqa: D401 - quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- vault_approle --------------------------------------------------------------------------

def test_approle_check_apply_idempotent_and_login(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("ar")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)

    (checked,) = play([approle_task(name)], check=True, diff=True)
    assert checked["changed"] and checked["action"] == "created", checked
    assert not role_exists(vault, name) and kv_meta(vault, path) is None

    (applied,) = play([approle_task(name)])
    assert applied["changed"] and applied["action"] == "created", applied
    config = vault.auth.approle.read_role(name)["data"]
    assert config["token_policies"] == ["nhi-it"] and config["token_ttl"] == 3600 and config["token_max_ttl"] == 14400
    data = kv_data(vault, path)
    assert data["role_id"] == vault.auth.approle.read_role_id(name)["data"]["role_id"] == applied["role_id"]
    assert data["secret_id_accessor"] == applied["secret_id_accessor"]
    assert accessors(vault, name) == [data["secret_id_accessor"]]
    assert login_ok(vault_addr, data["role_id"], data["secret_id"])
    custom = kv_meta(vault, path)["custom_metadata"]
    assert custom["secret_id_accessor"] == data["secret_id_accessor"] and custom["nhi_identity"] == name
    assert data["secret_id"] not in json.dumps(custom) and data["role_id"] not in json.dumps(custom)
    assert data["secret_id"] not in json.dumps(applied)
    prove = [e for e in applied["evidence"] if e["step"] == "prove_new"][0]
    assert prove["verified"]["ok"] is True and prove["verified"]["method"] == "approle:login"

    (again,) = play([approle_task(name)])
    assert not again["changed"] and again["action"] == "unchanged", again
    assert kv_meta(vault, path)["current_version"] == 1

    # drift in the role's configuration is put back, the credential is kept
    vault.auth.approle.create_or_update_approle(name, token_ttl=60, token_max_ttl=14400)
    (fixed,) = play([approle_task(name)], diff=True)
    assert fixed["action"] == "updated" and vault.auth.approle.read_role(name)["data"]["token_ttl"] == 3600
    assert kv_data(vault, path)["secret_id"] == data["secret_id"]


def test_approle_rotation_revokes_old_and_untracked(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("arrot")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    play([approle_task(name)])
    old = kv_data(vault, path)
    stray = vault.auth.approle.generate_secret_id(name)["data"]

    (checked,) = play([approle_task(name, state="rotated", force=True)], check=True)
    assert checked["changed"] and checked["action"] == "rotated"
    assert accessors(vault, name) == sorted([old["secret_id_accessor"], stray["secret_id_accessor"]])
    assert kv_meta(vault, path)["current_version"] == 1

    (rotated,) = play([approle_task(name, state="rotated", force=True)])
    assert rotated["changed"] and rotated["action"] == "rotated", rotated
    new = kv_data(vault, path)
    assert new["secret_id_accessor"] != old["secret_id_accessor"]
    assert login_ok(vault_addr, new["role_id"], new["secret_id"])
    assert not login_ok(vault_addr, old["role_id"], old["secret_id"])
    assert not login_ok(vault_addr, new["role_id"], stray["secret_id"])
    assert accessors(vault, name) == [new["secret_id_accessor"]]
    meta = kv_meta(vault, path)
    assert meta["current_version"] == 2 and meta["versions"]["1"]["destroyed"] is True
    assert steps(rotated)[:4] == ["read", "mint", "store", "prove_new"]
    assert steps(rotated)[-1] == "destroy_stored"
    rejected = [e for e in rotated["evidence"] if e["step"] == "prove_old_rejected"]
    assert rejected and all(e["verified"]["ok"] for e in rejected)

    (young,) = play([approle_task(name, state="rotated", max_age_days=30)])
    assert not young["changed"] and young["action"] == "unchanged"


def test_approle_resumes_interrupted_rotations(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("arres")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    play([approle_task(name)])
    old = kv_data(vault, path)
    # A run that stopped right after storing the new secret_id (before its metadata) ...
    minted = vault.auth.approle.generate_secret_id(name, metadata={"nhi_identity": name})["data"]
    vault.secrets.kv.v2.create_or_update_secret(path, mount_point=KV, cas=1, secret=dict(
        old, secret_id=minted["secret_id"], secret_id_accessor=minted["secret_id_accessor"]))
    # ... and one that stopped after minting, before storing.
    orphan = vault.auth.approle.generate_secret_id(name, metadata={"nhi_identity": name})["data"]

    (resumed,) = play([approle_task(name)])
    assert resumed["action"] == "resumed", resumed
    assert accessors(vault, name) == [minted["secret_id_accessor"]]
    assert not login_ok(vault_addr, old["role_id"], old["secret_id"])
    assert not login_ok(vault_addr, old["role_id"], orphan["secret_id"])
    assert login_ok(vault_addr, old["role_id"], minted["secret_id"])
    meta = kv_meta(vault, path)
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["custom_metadata"]["secret_id_accessor"] == minted["secret_id_accessor"]
    (again,) = play([approle_task(name)])
    assert again["action"] == "unchanged"


def test_approle_absent(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("arabs")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    play([approle_task(name)])
    data = kv_data(vault, path)
    vault.auth.approle.generate_secret_id(name)

    (checked,) = play([approle_task(name, state="absent")], check=True)
    assert checked["changed"] and role_exists(vault, name) and len(accessors(vault, name)) == 2
    assert kv_data(vault, path) == data

    (gone,) = play([approle_task(name, state="absent")])
    assert gone["action"] == "deleted", gone
    assert not role_exists(vault, name) and kv_meta(vault, path) is None
    assert not login_ok(vault_addr, data["role_id"], data["secret_id"])
    proof = [e for e in gone["evidence"] if e["step"] == "prove_revoked"][0]
    assert proof["verified"]["ok"] and proof["verified"]["result"] == "rejected"

    (again,) = play([approle_task(name, state="absent")])
    assert not again["changed"]


def test_approle_cas_conflict_is_clear_and_leaves_no_secret_id(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("arcas")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    vault.auth.approle.create_or_update_approle(name, token_policies=["nhi-it"], token_ttl=3600, token_max_ttl=14400)

    def concurrent_writer():
        vault.secrets.kv.v2.create_or_update_secret(path, secret={"written_by": "someone else"}, mount_point=KV)

    proxy = InterceptingProxy(vault_addr, lambda method, url: method == "POST" and
                              url.split("?")[0] == "/v1/auth/approle/role/%s/secret-id" % name, concurrent_writer)
    try:
        (failed,) = play([approle_task(name)], env={"VAULT_ADDR": proxy.url})
    finally:
        proxy.close()
    assert proxy.fired
    assert failed["failed"] and "check-and-set" in failed["msg"], failed
    assert accessors(vault, name) == []  # the minted secret_id was destroyed
    assert kv_data(vault, path) == {"written_by": "someone else"}
    rollback = [e for e in failed["evidence"] if e["step"] == "rollback"]
    assert rollback and rollback[0]["outcome"] == "changed"


def test_forbidden_token_changes_nothing(play, vault, vault_addr, unique_name, cleanup):
    name = unique_name("arfb")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    # May manage AppRoles, but has no access to the store.
    token = limited_token(vault, cleanup, "nhi-it-%s" % name,
                          'path "auth/approle/*" { capabilities = ["create", "read", "update", "delete", "list"] }')
    (failed,) = play([approle_task(name)], env={"VAULT_TOKEN": token})
    assert failed["failed"] and "permission denied" in failed["msg"] and "nhi/it/" in failed["msg"], failed
    assert not role_exists(vault, name) and kv_meta(vault, path) is None

    # May use the store, but cannot create tokens.
    token = limited_token(vault, cleanup, "nhi-it-%s-kv" % name,
                          'path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }')
    (failed,) = play([token_task(path)], env={"VAULT_TOKEN": token})
    assert failed["failed"] and "permission denied" in failed["msg"], failed
    assert kv_meta(vault, path) is None

    # May read the secret, not write it.
    vault.secrets.kv.v2.create_or_update_secret(path, secret={"k": "original-value"}, mount_point=KV)
    token = limited_token(vault, cleanup, "nhi-it-%s-ro" % name,
                          'path "secret/data/nhi/it/*" { capabilities = ["read"] }\n'
                          'path "secret/metadata/nhi/it/*" { capabilities = ["read"] }')
    secrets_file = play.vars_file({"new_value": "replacement-value-123"})
    (failed,) = play([{"nhi.lifecycle.vault_kv_secret": {"path": path, "data": {"k": "{{ new_value }}"}}}],
                     env={"VAULT_TOKEN": token}, vars_files=[secrets_file])
    assert failed["failed"] and "permission denied" in failed["msg"], failed
    assert kv_data(vault, path) == {"k": "original-value"} and kv_meta(vault, path)["current_version"] == 1


CRASH_POINTS = ["mint", "store", "prove_new", "delete_old", "prove_old_rejected", "destroy_stored"]


def no_old_secret_in_store(vault, path):
    """Every version but the current one is destroyed (or deleted): no dead secret lingers."""
    meta = kv_meta(vault, path)
    current = meta["current_version"]
    for number in meta["versions"]:
        if int(number) != current:
            assert kv_data(vault, path, version=int(number)) is None, "version %s still holds a secret" % number
    return meta


def crash_resume_tasks(task_factory, crash_after):
    """Kill the module after ``crash_after`` mid-rotation, then resume, then check idempotency."""
    killed = task_factory(state="rotated", force=True)
    killed["environment"] = {"NHI_TEST_CRASH_AFTER": crash_after}
    return [killed, task_factory(state="rotated"), task_factory(state="rotated")]


@pytest.mark.parametrize("crash_after", CRASH_POINTS)
def test_approle_rotation_killed_after_each_step_converges(play, vault, vault_addr, unique_name, cleanup,
                                                           crash_after):
    name = unique_name("arkill")
    path = "nhi/it/%s" % name
    cleanup["roles"].append(name)
    cleanup["paths"].append(path)
    play([approle_task(name)])
    before = kv_data(vault, path)

    killed, resumed, again = play(crash_resume_tasks(lambda **kw: approle_task(name, **kw), crash_after))
    assert killed.get("failed"), "the crash hook did not fire after %s" % crash_after
    assert not resumed.get("failed"), resumed
    assert not again["changed"] and again["action"] == "unchanged", again
    data = kv_data(vault, path)
    # Killed after mint, the resumed run keeps the stored (young) secret_id and destroys the stray one.
    assert (data["secret_id_accessor"] == before["secret_id_accessor"]) == (crash_after == "mint")
    assert accessors(vault, name) == [data["secret_id_accessor"]]
    assert login_ok(vault_addr, data["role_id"], data["secret_id"])
    if data["secret_id_accessor"] != before["secret_id_accessor"]:
        assert not login_ok(vault_addr, before["role_id"], before["secret_id"])
    meta = no_old_secret_in_store(vault, path)
    assert meta["custom_metadata"]["secret_id_accessor"] == data["secret_id_accessor"]


@pytest.mark.parametrize("crash_after", CRASH_POINTS)
def test_token_rotation_killed_after_each_step_converges(play, vault, vault_addr, unique_name, cleanup,
                                                         crash_after):
    path = "nhi/it/%s" % unique_name("tokkill")
    cleanup["paths"].append(path)
    play([token_task(path)])
    before = kv_data(vault, path)
    cleanup["accessors"].append(before["accessor"])

    killed, resumed, again = play(crash_resume_tasks(lambda **kw: token_task(path, **kw), crash_after))
    assert killed.get("failed"), "the crash hook did not fire after %s" % crash_after
    assert not resumed.get("failed"), resumed
    assert not again["changed"] and again["action"] == "unchanged", again
    data = kv_data(vault, path)
    cleanup["accessors"].append(data["accessor"])
    assert token_ok(vault_addr, data["token"])
    meta = no_old_secret_in_store(vault, path)
    assert meta["custom_metadata"]["accessor"] == data["accessor"]
    if crash_after == "mint":
        # The stored (young) token is kept. Known limit (see the module's notes): the token created by
        # the killed run cannot be found by the next one; it carries the identity and ends with its TTL.
        assert data["accessor"] == before["accessor"]
        return
    assert data["accessor"] != before["accessor"]
    assert not token_ok(vault_addr, before["token"])


# --- vault_token ---------------------------------------------------------------------------

def test_token_lifecycle(play, vault, vault_addr, unique_name, cleanup):
    path = "nhi/it/%s" % unique_name("tok")
    cleanup["paths"].append(path)

    (checked,) = play([token_task(path)], check=True, diff=True)
    assert checked["changed"] and checked["action"] == "created" and kv_meta(vault, path) is None

    (created,) = play([token_task(path)])
    first = kv_data(vault, path)
    cleanup["accessors"].append(first["accessor"])
    assert created["action"] == "created" and created["accessor"] == first["accessor"]
    assert token_ok(vault_addr, first["token"])
    info = vault.auth.token.lookup_accessor(first["accessor"])["data"]
    assert info["orphan"] is True and sorted(info["policies"]) == ["default", "nhi-it"]
    assert info["meta"]["nhi_identity"] == path
    assert kv_meta(vault, path)["custom_metadata"]["accessor"] == first["accessor"]
    assert first["token"] not in json.dumps(created) and first["token"] not in json.dumps(kv_meta(vault, path))

    (again,) = play([token_task(path)])
    assert not again["changed"] and again["action"] == "unchanged"

    # An operator's retention setting must survive the module's metadata writes
    # (hvac's update_metadata would send delete_version_after=0s with them).
    vault.secrets.kv.v2.update_metadata(path, delete_version_after="720h", mount_point=KV)
    (rotated,) = play([token_task(path, state="rotated", force=True)])
    second = kv_data(vault, path)
    cleanup["accessors"].append(second["accessor"])
    assert rotated["action"] == "rotated" and second["accessor"] != first["accessor"]
    assert kv_meta(vault, path)["delete_version_after"] == "720h0m0s"
    assert kv_meta(vault, path)["custom_metadata"]["accessor"] == second["accessor"]
    assert token_ok(vault_addr, second["token"]) and not token_ok(vault_addr, first["token"])
    assert kv_meta(vault, path)["versions"]["1"]["destroyed"] is True

    (replaced,) = play([token_task(path, policies=["nhi-it", "nhi-it-2"])])
    third = kv_data(vault, path)
    cleanup["accessors"].append(third["accessor"])
    assert replaced["action"] == "replaced" and not token_ok(vault_addr, second["token"])

    (revoked,) = play([token_task(path, state="absent")])
    assert revoked["action"] == "revoked" and not token_ok(vault_addr, third["token"])
    assert kv_meta(vault, path) is None

    other = vault.auth.token.create_orphan(policies=["nhi-it"], ttl="10m")["auth"]
    (by_accessor,) = play([{"nhi.lifecycle.vault_token": {"state": "absent", "accessor": other["accessor"]}}])
    assert by_accessor["action"] == "revoked" and not token_ok(vault_addr, other["client_token"])


def test_token_cas_conflict_revokes_the_new_token(play, vault, vault_addr, unique_name, cleanup):
    path = "nhi/it/%s" % unique_name("tokcas")
    cleanup["paths"].append(path)

    def concurrent_writer():
        vault.secrets.kv.v2.create_or_update_secret(path, secret={"written_by": "someone else"}, mount_point=KV)

    proxy = InterceptingProxy(vault_addr, lambda method, url: method == "POST" and
                              url.startswith("/v1/auth/token/create-orphan"), concurrent_writer)
    try:
        (failed,) = play([token_task(path)], env={"VAULT_ADDR": proxy.url})
    finally:
        proxy.close()
    assert failed["failed"] and "check-and-set" in failed["msg"], failed
    minted = [e for e in failed["evidence"] if e["step"] == "mint"][0]["details"]["accessor"]
    assert not token_alive(vault, minted)
    assert kv_data(vault, path) == {"written_by": "someone else"}


# --- vault_kv_secret and the info modules ------------------------------------------------------

def test_kv_secret_lifecycle_and_info(play, vault, unique_name, cleanup):
    path = "nhi/it/%s" % unique_name("kv")
    cleanup["paths"].append(path)
    values = {"v1": "first-password-value-1", "v2": "second-password-value-2"}
    secrets_file = play.vars_file(values)

    def task(value, **extra):
        args = {"path": path, "data": {"user": "svc", "password": "{{ %s }}" % value},
                "custom_metadata": {"owner": "team-it"}, "max_versions": 4}
        args.update(extra)
        return {"nhi.lifecycle.vault_kv_secret": args}

    (checked,) = play([task("v1")], check=True, diff=True, vars_files=[secrets_file])

    run = play.last
    assert checked["changed"] and kv_meta(vault, path) is None
    (created,) = play([task("v1")], diff=True, vars_files=[secrets_file])
    assert created["action"] == "created" and kv_data(vault, path) == {"user": "svc", "password": values["v1"]}
    meta = kv_meta(vault, path)
    assert meta["custom_metadata"] == {"owner": "team-it"} and meta["max_versions"] == 4
    (same,) = play([task("v1")], diff=True, vars_files=[secrets_file])
    assert not same["changed"] and kv_meta(vault, path)["current_version"] == 1
    (updated,) = play([task("v2")], diff=True, vars_files=[secrets_file])
    run = play.last
    assert updated["action"] == "updated" and kv_meta(vault, path)["current_version"] == 2
    assert "<hidden, changed>" in run.stdout and '"user": "<hidden>"' in run.stdout
    for value in values.values():
        assert value not in run.stdout and value not in json.dumps(updated)

    (conflict,) = play([task("v1", cas=1)], vars_files=[secrets_file])
    assert conflict["failed"] and "check-and-set" in conflict["msg"], conflict
    assert kv_meta(vault, path)["current_version"] == 2

    (info, role_info) = play([{"nhi.lifecycle.vault_kv_secret_info": {"path": path}},
                              {"nhi.lifecycle.vault_approle_info": {"role_name": "does-not-exist"}}])
    assert info["exists"] and info["live"] and info["current_version"] == 2 and len(info["versions"]) == 2
    assert info["custom_metadata"] == {"owner": "team-it"}
    assert values["v2"] not in json.dumps(info)
    assert role_info["exists"] is False

    (deleted,) = play([{"nhi.lifecycle.vault_kv_secret": {"path": path, "state": "absent"}}])
    assert deleted["action"] == "deleted" and kv_data(vault, path) is None
    (destroyed,) = play([{"nhi.lifecycle.vault_kv_secret": {"path": path, "state": "destroyed",
                                                            "versions": [1]}}])
    assert destroyed["action"] == "destroyed" and kv_meta(vault, path)["versions"]["1"]["destroyed"] is True
    (gone,) = play([{"nhi.lifecycle.vault_kv_secret": {"path": path, "state": "destroyed"}}])
    assert gone["action"] == "destroyed" and kv_meta(vault, path) is None


def test_approle_info_reports_ages_without_secrets(play, vault, unique_name, cleanup):
    name = unique_name("arinfo")
    cleanup["roles"].append(name)
    vault.auth.approle.create_or_update_approle(name, token_policies=["nhi-it"])
    minted = vault.auth.approle.generate_secret_id(name, metadata={"nhi_identity": name})["data"]
    (one, every) = play([{"nhi.lifecycle.vault_approle_info": {"role_name": name}},
                         {"nhi.lifecycle.vault_approle_info": {"include_secret_ids": False}}])
    role = one["roles"][0]
    assert one["exists"] and role["config"]["token_policies"] == ["nhi-it"]
    assert role["secret_ids"][0]["secret_id_accessor"] == minted["secret_id_accessor"]
    assert 0 <= role["secret_ids"][0]["age_days"] < 1 and role["secret_ids"][0]["metadata"] == {"nhi_identity": name}
    assert name in [r["role_name"] for r in every["roles"]]
    assert minted["secret_id"] not in json.dumps([one, every])


def test_lookup_reads_stored_credentials_as_unsafe(play, vault, unique_name, cleanup):
    path = "nhi/it/%s" % unique_name("lk")
    cleanup["paths"].append(path)
    vault.secrets.kv.v2.create_or_update_secret(path, mount_point=KV,
                                                secret={"secret_id": "s3cr3t-lookup-value", "tmpl": "{{ 6 * 7 }}"})
    digest = hashlib.sha256(b"s3cr3t-lookup-value").hexdigest()
    (checked, missing) = play([
        {"ansible.builtin.assert": {"that": [
            "lookup('nhi.lifecycle.vault_kv', '%s', field='secret_id') | hash('sha256') == '%s'" % (path, digest),
            "lookup('nhi.lifecycle.vault_kv', '%s')['tmpl'] == '{{ \"{{\" }} 6 * 7 }}'" % path]},
         "no_log": True},
        {"ansible.builtin.debug": {"msg": "{{ lookup('nhi.lifecycle.vault_kv', 'nhi/it/no-such-secret') }}"}}])
    run = play.last
    assert not checked.get("failed"), checked
    assert missing["failed"] and "no readable secret" in missing["msg"]
    assert "s3cr3t-lookup-value" not in run.stdout


# --- secrets never reach the output ----------------------------------------------------------------

def test_no_secret_in_verbose_output(play, vault, backends, unique_name, cleanup):
    a, b = unique_name("leaka"), unique_name("leakb")
    tok_path, kv_path = "nhi/it/%s-tok" % a, "nhi/it/%s-kv" % a
    cleanup["roles"].extend([a, b])
    cleanup["paths"].extend(["nhi/it/%s" % a, "nhi/it/%s" % b, tok_path, kv_path])
    given = {"db_password": "given-db-password-4242", "api_key": "given-api-key-0f0f0f"}
    secrets_file = play.vars_file(given)
    tasks = [
        {"nhi.lifecycle.vault_approle": {"state": "present", "token_policies": ["nhi-it"], "proof_deadline": 5,
                                         "targets": [{"role_name": a, "store": {"path": "nhi/it/%s" % a}},
                                                     {"role_name": b, "store": {"path": "nhi/it/%s" % b}}]}},
        token_task(tok_path),
        {"nhi.lifecycle.vault_kv_secret": {"path": kv_path, "data": {"password": "{{ db_password }}"}}},
        {"nhi.lifecycle.vault_kv_secret": {"targets": [{"path": kv_path + "-b", "data": {"key": "{{ api_key }}"}}]}},
        {"nhi.lifecycle.vault_kv_secret_info": {"path": kv_path}},
        {"nhi.lifecycle.vault_approle_info": {"role_name": a}},
        {"ansible.builtin.assert": {"that": ["lookup('nhi.lifecycle.vault_kv', '%s', field='token') | length > 0"
                                             % tok_path]}, "no_log": True},
    ]
    cleanup["paths"].append(kv_path + "-b")
    first = play(tasks, diff=True, verbosity=4, vars_files=[secrets_file])
    run_a = play.last
    assert all(not r.get("failed") for r in first), [r.get("msg") for r in first]
    minted = [kv_data(vault, "nhi/it/%s" % a)["secret_id"], kv_data(vault, "nhi/it/%s" % b)["secret_id"],
              kv_data(vault, tok_path)["token"]]
    cleanup["accessors"].append(kv_data(vault, tok_path)["accessor"])

    rotate = [{"nhi.lifecycle.vault_approle": {"state": "rotated", "force": True, "proof_deadline": 5,
                                               "role_name": a, "store": {"path": "nhi/it/%s" % a}}},
              token_task(tok_path, state="rotated", force=True)]
    second = play(rotate, diff=True, verbosity=4)
    run_b = play.last
    assert all(r["action"] == "rotated" for r in second), second
    minted += [kv_data(vault, "nhi/it/%s" % a)["secret_id"], kv_data(vault, tok_path)["token"]]
    cleanup["accessors"].append(kv_data(vault, tok_path)["accessor"])

    haystacks = {"run A output": "\n".join(play.outputs[-2:-1]), "run B output": "\n".join(play.outputs[-1:])}
    for run in (run_a, run_b):
        if run.evidence_dir:
            for file in pathlib.Path(run.evidence_dir).rglob("*"):
                if file.is_file():
                    haystacks[str(file)] = file.read_text(encoding="utf-8", errors="replace")
    haystacks["registered results"] = json.dumps([first, second])
    needles = minted + list(given.values()) + [backends["VAULT_TOKEN"]]
    assert len(set(minted)) == 5 and all(len(n) >= 20 for n in needles)
    leaks = ["secret #%d in %s" % (i, where) for i, needle in enumerate(needles)
             for where, text in haystacks.items() if needle in text]
    assert leaks == []
    assert "<localhost> EXEC" in haystacks["run A output"]  # it really was -vvvv
