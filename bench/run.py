# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: nhi.lifecycle against the peer collections and the bare API floor.

For every operation (rotate, offboard, and reconcile once playbooks/reconcile.yml
exists) and every N, on fresh local backends (OpenBao dev server + moto with
auth enforcement, started by this script on free loopback ports and stopped by
it), the driver seeds N IAM users with one stored key each (bench/seed.py),
then measures, one after the other on the same machine:

* floor: bench/floor.py, the same API calls with boto3 and hvac on 16 threads;
* ours:  ansible-playbook playbooks/<op>.yml on a generated catalog of N
         aws_iam_user identities, evidence callback on (the product);
* peer:  bench/peer/<op>.yml, amazon.aws + community.hashi_vault from the
         ansible==12.3.0 package in .venv-peer, one host, `loop:` over users.
         Its cost per identity does not depend on N, so it runs at --peer-n
         (200) only; at other N its figures are extrapolated and say so.

Each contender runs as a child process; its CPU time and peak RSS come from
wait4() (the whole process tree that it waited for), its wall time from a
monotonic clock. The backends' CPU is read from /proc/<pid>/stat, and moto's
request log gives the AWS requests per identity. After each contender the
driver checks with raw boto3/hvac that the work really happened (a rotation
left exactly one active key per user, equal to the stored one and new; an
offboard left no user and no secret).

The table goes to stdout and, as JSON and Markdown, to bench/results/.
See bench/README.md for what each contender does and how to read the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import floor  # noqa: E402  pylint: disable=wrong-import-position
import seed  # noqa: E402  pylint: disable=wrong-import-position

VENV = os.path.join(ROOT, ".venv")
PEER_VENV = os.path.join(ROOT, ".venv-peer")
RUN_DIR = os.path.join(ROOT, ".run")
COLLECTIONS = os.path.join(RUN_DIR, "collections")
HELPER = os.path.join(ROOT, "scripts", "_bootstrap_backends.py")
RESULTS = os.path.join(HERE, "results")
MOUNT = "secret"
PREFIX = "nhi/bench"
CONTENDERS = ("floor", "ours", "peer")
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def log(msg):
    print("[bench] %s" % msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- operations

@dataclasses.dataclass
class Operation:
    """One lifecycle operation as each contender does it. Adding one is one entry in OPERATIONS."""

    name: str
    playbook: str                       # ours, relative to the repository root
    peer_playbook: str                  # the peer's, relative to the repository root
    extra_vars: dict                    # ours
    fresh_seed: bool                    # True: each contender needs its own seeded identities (destructive)
    verify: str                         # "rotated" | "gone" | "unchanged"

    def available(self):
        return os.path.isfile(os.path.join(ROOT, self.playbook))


OPERATIONS = {
    "rotate": Operation("rotate", "playbooks/rotate.yml", "bench/peer/rotate.yml",
                        {"nhi_rotate_force": True}, fresh_seed=False, verify="rotated"),
    "offboard": Operation("offboard", "playbooks/offboard.yml", "bench/peer/offboard.yml",
                          {}, fresh_seed=True, verify="gone"),
    "reconcile": Operation("reconcile", "playbooks/reconcile.yml", "bench/peer/reconcile.yml",
                           {}, fresh_seed=False, verify="unchanged"),
}


# --------------------------------------------------------------------------- backends

# moto_server as the bench starts it. Two changes, both for the bench's own
# moto only, and both so that it behaves like IAM rather than like a toy:
#
# * iam:ListServiceSpecificCredentials, which moto 5 lacks (HTTP 500 "not
#   implemented") and both Ansible contenders call when they delete a user:
#   amazon.aws.iam_user state=absent fails on it, nhi.lifecycle skips it
#   after botocore's retries. It answers an empty list here.
# * moto finds the user of an access key by a linear scan over every user,
#   twice per request signed with a user's key (auth, then
#   GetCallerIdentity). Each STS proof then costs moto O(N), a rotation of N
#   identities O(N^2): at N=10,000 moto alone would need ~30 min of CPU per
#   contender, and the table would measure moto. The lookup goes through
#   moto's own index of keys by id instead (IAMBackend.access_keys), as IAM
#   does. Same answers: the key must still belong to an existing user.
#
# `--stock-moto` runs moto_server unchanged, to see the difference.
MOTO_LAUNCHER = """
import sys
PATCHED = []
try:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse
    if not hasattr(IamResponse, "list_service_specific_credentials"):
        def list_service_specific_credentials(self):
            self.backend.get_user(self._get_param("UserName"))
            return ActionResult({"ServiceSpecificCredentials": []})
        IamResponse.list_service_specific_credentials = list_service_specific_credentials
        PATCHED.append("ListServiceSpecificCredentials")
except Exception as exc:
    print("bench moto: ListServiceSpecificCredentials not patched: %r" % exc, file=sys.stderr)
try:
    from moto.iam import access_control
    from moto.iam.models import IAMBackend

    def _owner(backend, key_id):
        key = backend.access_keys.get(key_id)
        user = backend.users.get(key.user_name) if key is not None and key.user_name else None
        if user is None:
            return None, None
        for own in user.access_keys:
            if own.access_key_id == key_id:
                return user, own
        return None, None

    def get_user_from_access_key_id(self, access_key_id):
        return _owner(self, access_key_id)[0]

    def user_access_key_init(self, account_id, partition, access_key_id, headers):
        self.account_id = account_id
        self.partition = partition
        user, key = _owner(self.backend, access_key_id)
        if user is None:
            raise access_control.CreateAccessKeyFailure(reason="InvalidId")
        self._owner_user_name = user.name
        self._access_key_id = access_key_id
        self._secret_access_key = key.secret_access_key
        if "X-Amz-Security-Token" in headers:
            raise access_control.CreateAccessKeyFailure(reason="InvalidToken")

    assert hasattr(IAMBackend, "get_user_from_access_key_id") and hasattr(access_control, "IAMUserAccessKey")
    IAMBackend.get_user_from_access_key_id = get_user_from_access_key_id
    access_control.IAMUserAccessKey.__init__ = user_access_key_init
    PATCHED.append("access-key index")
except Exception as exc:
    print("bench moto: access-key lookup not patched: %r" % exc, file=sys.stderr)
print("bench moto: patched %s" % (", ".join(PATCHED) or "nothing"), file=sys.stderr, flush=True)
from moto.server import main
sys.argv[0] = "moto_server"
main(sys.argv[1:])
"""


def _proc_cpu(pid):
    """user+sys seconds of pid and its waited-for children, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14..17
    return sum(int(v) for v in fields[11:15]) / TICK


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class Backends(object):
    """OpenBao + moto. ``fresh``: started here, on free ports, and stopped here.

    Otherwise the ones that scripts/backends.sh started (.run/backends.env) are
    used as they are: never restarted, never stopped.
    """

    def __init__(self, workdir=None, env=None, pids=None, moto_log=None):
        self.workdir = workdir
        self.env = dict(env or {})
        self.pids = dict(pids or {})        # {"moto": pid, "openbao": pid}
        self.moto_log = moto_log
        self.vault_audit = None
        self.stock_moto = True
        self.moto_patches = "none (the project's running moto_server)"
        self._procs = {}

    # --- fresh ones -----------------------------------------------------------
    @classmethod
    def start_fresh(cls, workdir, stock_moto=False):
        self = cls(workdir=workdir)
        self.stock_moto = stock_moto
        os.makedirs(workdir, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _helper(self, *args, env=None, capture=True):
        proc = subprocess.run([sys.executable, HELPER] + list(args), env=env or os.environ.copy(),
                              capture_output=capture, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError("%s %s failed: %s" % (os.path.basename(HELPER), args[0], proc.stderr.strip()))
        return proc.stdout

    def _spawn(self, name, cmd, env=None):
        logfile = os.path.join(self.workdir, "%s.log" % name)
        with open(logfile, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
        self._procs[name] = proc
        self.pids[name] = proc.pid
        return logfile

    def _start(self):
        import secrets  # pylint: disable=import-outside-toplevel
        bao = os.path.join(VENV, "bin", "bao")
        python = os.path.join(VENV, "bin", "python")
        for tool in (bao, python):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s is missing; run 'make venv'" % tool)
        bao_port = self._helper("free-port", "--pair").strip()
        token = secrets.token_urlsafe(24)
        home = os.path.join(self.workdir, "bao-home")
        os.makedirs(home, exist_ok=True)
        bao_env = dict(os.environ, HOME=home)
        # A socket audit device (declared in the config: OpenBao refuses to
        # enable audit devices through its API) whose every "request" entry
        # this process counts, for Vault requests per identity. A file would
        # grow to gigabytes at N=10,000.
        self.vault_audit = AuditCounter()
        self.vault_audit.start()
        config = os.path.join(self.workdir, "openbao-audit.hcl")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write('audit "socket" "bench" {\n  options {\n    address = "127.0.0.1:%d"\n'
                         '    socket_type = "tcp"\n  }\n}\n' % self.vault_audit.port)
        bao_log = self._spawn("openbao", [bao, "server", "-dev", "-dev-listen-address=127.0.0.1:%s" % bao_port,
                                          "-dev-root-token-id=%s" % token, "-config=%s" % config], env=bao_env)
        addr = "http://127.0.0.1:%s" % bao_port
        self._helper("wait-http", "OpenBao", addr + "/v1/sys/health", bao_log, "--timeout", "60",
                     "--pid", str(self.pids["openbao"]))
        self._helper("bao-setup", env=dict(os.environ, VAULT_ADDR=addr, VAULT_TOKEN=token))
        moto_port = self._helper("free-port").strip()
        launcher = [os.path.join(VENV, "bin", "moto_server")] if self.stock_moto else [python, "-c", MOTO_LAUNCHER]
        self.moto_log = self._spawn("moto", launcher + ["-H", "127.0.0.1", "-p", moto_port])
        url = "http://127.0.0.1:%s" % moto_port
        self._helper("wait-http", "moto", url + "/moto-api/", self.moto_log, "--timeout", "60",
                     "--pid", str(self.pids["moto"]))
        exports = self._helper("moto-bootstrap", url)
        self.moto_patches = "none (stock moto_server)"
        with open(self.moto_log, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("bench moto: patched"):
                    self.moto_patches = line.split("patched", 1)[1].strip()
        self.env.update(_parse_exports(exports))
        self.env.update(VAULT_ADDR=addr, VAULT_TOKEN=token, AWS_ENDPOINT_URL=url, AWS_REGION="us-east-1",
                        AWS_DEFAULT_REGION="us-east-1")

    def stop(self):
        """Stop only the processes this object started (then the audit sink)."""
        for name, proc in list(self._procs.items()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            del self._procs[name]
        if self.vault_audit is not None:
            self.vault_audit.stop()

    # --- the project's running ones ------------------------------------------------
    @classmethod
    def running(cls):
        env_file = os.path.join(RUN_DIR, "backends.env")
        if not os.path.isfile(env_file):
            raise RuntimeError("no %s: start the backends ('make backends-start') or use --backends fresh" % env_file)
        with open(env_file, encoding="utf-8") as handle:
            env = _parse_exports(handle.read())
        pids = {}
        for name, sig in (("moto", "moto_server"), ("openbao", "server")):
            try:
                with open(os.path.join(RUN_DIR, "%s.pid" % name), encoding="ascii") as handle:
                    pid = int(handle.read().strip())
            except (OSError, ValueError):
                continue
            if sig in _cmdline(pid):
                pids[name] = pid
        moto_log = os.path.join(RUN_DIR, "moto.log")
        return cls(env=env, pids=pids, moto_log=moto_log if os.path.isfile(moto_log) else None)

    # --- what the measurements read ------------------------------------------------
    def cpu(self):
        return {name: _proc_cpu(pid) for name, pid in self.pids.items()}

    def aws_requests(self):
        """Requests moto has logged so far (None when its log is not readable)."""
        return _count_lines(self.moto_log, b" HTTP/1.1")

    def vault_requests(self):
        """Requests OpenBao has audited so far (None without the bench's audit device)."""
        return self.vault_audit.count if self.vault_audit is not None else None


class AuditCounter(threading.Thread):
    """A TCP sink for OpenBao's socket audit device that counts request entries."""

    NEEDLE = b'"type":"request"'

    def __init__(self):
        super().__init__(daemon=True)
        import socket  # pylint: disable=import-outside-toplevel
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(8)
        self.port = self._server.getsockname()[1]
        self.count = 0
        self._lock = threading.Lock()
        self._closed = False

    def run(self):
        while not self._closed:
            try:
                conn, _addr = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        tail = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(1 << 16)
                except OSError:
                    return
                if not chunk:
                    return
                data = tail + chunk
                found = data.count(self.NEEDLE)
                with self._lock:
                    self.count += found
                # keep what could be the start of a needle cut in two
                tail = data[-(len(self.NEEDLE) - 1):]

    def stop(self):
        self._closed = True
        try:
            self._server.close()
        except OSError:
            pass


def _count_lines(path, needle):
    if not path:
        return None
    count = 0
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if needle in line:
                    count += 1
    except OSError:
        return None
    return count


def _parse_exports(text):
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            name, _sep, value = line[len("export "):].partition("=")
            words = shlex.split(value)
            env[name.strip()] = words[0] if words else ""
    return env


# --------------------------------------------------------------------------- measuring

class TreeRSS(threading.Thread):
    """Samples the summed RSS of a process group (the contender's tree) every interval."""

    def __init__(self, pgid, interval=0.25):
        super().__init__(daemon=True)
        self.pgid = pgid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()

    def run(self):
        while not self._stop.is_set():
            total = 0
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                # fields[2] is field 5 (pgrp), fields[21] is field 24 (rss, pages)
                if int(fields[2]) == self.pgid:
                    total += int(fields[21]) * PAGE_KB
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self.join(timeout=5)


def measure(cmd, env, cwd, logfile, timeout, backends):
    """Run cmd as its own process group; return wall, CPU, RSS, backend CPU and AWS requests."""
    cpu0, req0, vreq0 = backends.cpu(), backends.aws_requests(), backends.vault_requests()
    rss_file = logfile + ".maxrss"
    run = list(cmd)
    if TIME:
        # wait4()'s ru_maxrss would include this driver's own RSS (Linux keeps the
        # pre-exec high-water mark of the forked copy), so the peak RSS comes from
        # /usr/bin/time, a small C program that forks the contender itself.
        run = [TIME, "-f", "%M", "-o", rss_file] + run
    with open(logfile, "w", encoding="utf-8") as out:
        out.write("$ %s\n" % shlex.join(cmd))
        out.flush()
        start = time.monotonic()
        proc = subprocess.Popen(run, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sampler = TreeRSS(proc.pid)
    sampler.start()
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this function created
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        sampler.stop()
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu1, req1, vreq1 = backends.cpu(), backends.aws_requests(), backends.vault_requests()
    peak_kb = None
    if TIME:
        try:
            with open(rss_file, encoding="ascii") as handle:
                peak_kb = int(handle.read().split()[-1])
        except (OSError, ValueError, IndexError):
            peak_kb = None
    backend_cpu = {}
    for name in cpu1:
        if cpu0.get(name) is not None and cpu1.get(name) is not None:
            backend_cpu[name] = round(cpu1[name] - cpu0[name], 2)
    return {
        "rc": proc.returncode,
        "timed_out": timed_out.is_set(),
        "wall_s": round(wall, 3),
        "user_s": round(usage.ru_utime, 3),
        "sys_s": round(usage.ru_stime, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(peak_kb / 1024.0, 1) if peak_kb else None,   # the largest process of the tree
        "tree_rss_mb": round(sampler.peak_kb / 1024.0, 1),       # the whole tree at its peak (sampled)
        "backend_cpu_s": backend_cpu,
        "aws_requests": (req1 - req0) if req0 is not None and req1 is not None else None,
        "vault_requests": (vreq1 - vreq0) if vreq0 is not None and vreq1 is not None else None,
        "log": logfile,
    }


# --------------------------------------------------------------------------- contenders

def ensure_collection_link():
    link = os.path.join(COLLECTIONS, "ansible_collections", "nhi", "lifecycle")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(link)), link)


def write_catalog(path, names):
    """A catalog of aws_iam_user identities (docs/architecture.md), stored under secret/nhi/bench/."""
    lines = [
        "---",
        "# generated by bench/run.py",
        "plugin: nhi.lifecycle.catalog",
        "defaults:",
        "  owner: team-bench",
        "  environment: bench",
        "  purpose: make bench identity",
        "  store: {mount: %s, path_prefix: %s}" % (MOUNT, PREFIX),
        "  rotation: {max_age_days: 90, overlap_hours: 0}",
        "  aws: {path: %s}" % seed.USER_PATH,
        "identities:",
    ]
    lines.extend("  - {name: %s, kind: aws_iam_user}" % name for name in names)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def contender_command(contender, op, names, work, backends, workers):
    """(cmd, env) for one contender doing op on names."""
    env = dict(os.environ)
    for var in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_INVENTORY", "NHI_RUN_ID",
                "NHI_EVIDENCE_DIR", "NHI_EVIDENCE_ERROR"):
        env.pop(var, None)
    env.update(backends.env)
    env.update(PYTHONUNBUFFERED="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", NHI_PROGRESS="0")
    names_file = os.path.join(work, "names.json")
    with open(names_file, "w", encoding="utf-8") as handle:
        json.dump(names, handle)
    if contender == "floor":
        cmd = [sys.executable, os.path.join(HERE, "floor.py"), op.name, "--names", names_file,
               "--workers", str(workers), "--mount", MOUNT, "--path-prefix", PREFIX]
    elif contender == "ours":
        catalog = os.path.join(work, "bench.nhi.yml")
        write_catalog(catalog, names)
        ensure_collection_link()
        env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   NHI_EVIDENCE_ROOT=os.path.join(work, "evidence"))
        extra = dict(op.extra_vars, nhi_workers=workers)
        cmd = [os.path.join(VENV, "bin", "ansible-playbook"), os.path.join(ROOT, op.playbook), "-i", catalog,
               "-e", json.dumps(extra)]
    elif contender == "peer":
        vars_file = os.path.join(work, "peer-vars.json")
        with open(vars_file, "w", encoding="utf-8") as handle:
            json.dump({"bench_users": names, "bench_mount": MOUNT, "bench_prefix": PREFIX}, handle)
        env.update(ANSIBLE_CONFIG=os.path.join(HERE, "peer", "ansible.cfg"))
        cmd = [os.path.join(PEER_VENV, "bin", "ansible-playbook"), os.path.join(ROOT, op.peer_playbook),
               "-e", "@" + vars_file]
    else:
        raise ValueError(contender)
    return cmd, env


def peer_available():
    return os.access(os.path.join(PEER_VENV, "bin", "ansible-playbook"), os.X_OK)


def evidence_entries(work):
    """Lines of evidence.jsonl that ours wrote (a sanity check that the product did its job)."""
    count = 0
    root = os.path.join(work, "evidence")
    if os.path.isdir(root):
        for run in os.listdir(root):
            path = os.path.join(root, run, "evidence.jsonl")
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    count += sum(1 for _line in handle)
    return count


# --------------------------------------------------------------------------- verification (raw boto3 + hvac)

def snapshot(clients, names, workers=16):
    """{name: (stored key id, [active key ids], [all key ids])}."""
    def one(name):
        stored, _meta = clients.kv_read(MOUNT, "%s/%s" % (PREFIX, name))
        keys = clients.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        return name, ((stored or {}).get("access_key_id"),
                      sorted(k["AccessKeyId"] for k in keys if k["Status"] == "Active"),
                      sorted(k["AccessKeyId"] for k in keys))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(one, names))


def verify(kind, clients, names, before, workers=16):
    """Return a list of problems (empty when the work really happened)."""
    problems = []
    if kind in ("rotated", "unchanged"):
        after = snapshot(clients, names, workers)
        for name in names:
            stored, active, every = after[name]
            if not stored or active != [stored] or every != [stored]:
                problems.append("%s: stored %s, active %s, all %s" % (name, stored, active, every))
            elif kind == "rotated" and stored == before[name][0]:
                problems.append("%s: key %s was not rotated" % (name, stored))
            elif kind == "unchanged" and stored != before[name][0]:
                problems.append("%s: key changed from %s to %s" % (name, before[name][0], stored))
        return problems, after

    def gone(name):
        try:
            clients.iam.get_user(UserName=name)
            return "%s: IAM user still exists" % name
        except clients.iam.exceptions.NoSuchEntityException:
            pass
        try:
            clients.vault.secrets.kv.v2.read_secret_metadata(path="%s/%s" % (PREFIX, name), mount_point=MOUNT)
            return "%s: stored secret still exists" % name
        except floor.hvac.exceptions.InvalidPath:
            return None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(gone, names) if p]
    return problems, None


# --------------------------------------------------------------------------- one cycle

def names_for(op, n, run_tag, contender=None):
    """IAM user (and identity) names: b<N>-<op>-<run tag>[-<contender>]-<i>, unique per run."""
    parts = ["b%d" % n, op[:3], run_tag] + ([contender] if contender else [])
    return ["%s-%05d" % ("-".join(parts), i) for i in range(1, n + 1)]


def run_cycle(op, n, contenders, args, backends, work_root, run_tag=None):
    """Seed, then each contender in turn on the same backends. Returns the rows."""
    import secrets  # pylint: disable=import-outside-toplevel
    run_tag = run_tag or secrets.token_hex(2)
    rows = []
    clients = floor.Clients(backends.env, args.workers)
    shared = None
    before = None
    if not op.fresh_seed:
        shared = names_for(op.name, n, run_tag)
        t0 = time.monotonic()
        seed.seed(shared, env=backends.env, workers=args.workers, mount=MOUNT, prefix=PREFIX)
        log("%s N=%d: seeded %d identities in %.1f s" % (op.name, n, n, time.monotonic() - t0))
        before = snapshot(clients, shared, args.workers)
    for contender in contenders:
        names = shared
        if op.fresh_seed:
            names = names_for(op.name, n, run_tag, contender)
            t0 = time.monotonic()
            seed.seed(names, env=backends.env, workers=args.workers, mount=MOUNT, prefix=PREFIX)
            log("%s N=%d: seeded %d identities for %s in %.1f s" % (op.name, n, n, contender, time.monotonic() - t0))
            before = None
        work = os.path.join(work_root, "%s-%d-%s" % (op.name, n, contender))
        os.makedirs(work, exist_ok=True)
        cmd, env = contender_command(contender, op, names, work, backends, args.workers)
        profile = getattr(args, "py_spy", None)
        if profile and contender == "ours":
            # A diagnostic: py-spy's own CPU then counts in the contender's figures.
            cmd = [profile, "record", "--subprocesses", "--format", "raw", "--rate", "50", "--nonblocking",
                   "-o", os.path.join(work, "py-spy.txt"), "--"] + cmd
        # generous caps: the peer measured 10-17 s per identity on a loaded 2-core machine
        timeout = args.timeout or max(900.0, n * (30.0 if contender == "peer" else 1.0))
        log("%s N=%d: %s ..." % (op.name, n, contender))
        result = measure(cmd, env, ROOT, os.path.join(work, "output.log"), timeout, backends)
        problems, after = verify(op.verify, clients, names, before, args.workers)
        if op.verify in ("rotated", "unchanged"):
            before = after
        row = dict(op=op.name, n=n, contender=contender, measured=True, names=[names[0], names[-1]], **result)
        row["verified"] = not problems and result["rc"] == 0
        row["problems"] = problems[:5]
        row["problem_count"] = len(problems)
        if contender == "ours":
            row["evidence_entries"] = evidence_entries(work)
        rows.append(row)
        log("%s N=%d: %s wall %.1f s, CPU %.1f s, rc %d, %s" % (
            op.name, n, contender, result["wall_s"], result["cpu_s"], result["rc"],
            "verified" if row["verified"] else "NOT VERIFIED: %d problem(s) (%s); log %s" % (
                len(problems), "; ".join(problems[:2]) or "rc != 0", result["log"])))
    return rows


# --------------------------------------------------------------------------- the table

def derive(rows, peer_n):
    """Per-identity figures, the ratios, and extrapolated peer rows for the other N."""
    for row in rows:
        n = row["n"]
        row["ms_per_id"] = round(1000.0 * row["wall_s"] / n, 2)
        row["cpu_ms_per_id"] = round(1000.0 * row["cpu_s"] / n, 2)
        for what in ("aws", "vault"):
            count = row.get("%s_requests" % what)
            row["%s_req_per_id" % what] = round(count / n, 1) if count is not None else None
    by = {(r["op"], r["n"], r["contender"]): r for r in rows if r.get("measured")}
    out = list(rows)
    ops = sorted({r["op"] for r in rows}, key=list(OPERATIONS).index)
    ns = sorted({r["n"] for r in rows})
    for op in ops:
        peer = by.get((op, peer_n, "peer"))
        for n in ns:
            if peer is not None and n != peer_n and (op, n, "ours") in by:
                out.append(dict(op=op, n=n, contender="peer", measured=False, extrapolated_from=peer_n,
                                wall_s=round(peer["wall_s"] / peer_n * n, 1),
                                cpu_s=round(peer["cpu_s"] / peer_n * n, 1),
                                ms_per_id=peer["ms_per_id"], cpu_ms_per_id=peer["cpu_ms_per_id"],
                                peak_rss_mb=None, tree_rss_mb=None, backend_cpu_s={},
                                aws_req_per_id=peer.get("aws_req_per_id"),
                                vault_req_per_id=peer.get("vault_req_per_id"), verified=None))
    by_all = {(r["op"], r["n"], r["contender"]): r for r in out}
    for row in out:
        if row["contender"] == "ours":
            fl = by_all.get((row["op"], row["n"], "floor"))
            if fl and fl["wall_s"] > 0:
                row["ours_over_floor"] = round(row["wall_s"] / fl["wall_s"], 2)
                row["ours_over_floor_cpu"] = round(row["cpu_s"] / fl["cpu_s"], 2) if fl["cpu_s"] > 0 else None
        if row["contender"] == "peer":
            ours = by_all.get((row["op"], row["n"], "ours"))
            if ours and ours["wall_s"] > 0:
                row["peer_over_ours"] = round(row["wall_s"] / ours["wall_s"], 2)
                row["peer_over_ours_cpu"] = round(row["cpu_s"] / ours["cpu_s"], 2) if ours["cpu_s"] > 0 else None
    order = {c: i for i, c in enumerate(CONTENDERS)}
    out.sort(key=lambda r: (list(OPERATIONS).index(r["op"]), r["n"], order[r["contender"]]))
    return out


COLUMNS = [
    ("op", "op"), ("N", "n"), ("contender", "contender"), ("wall s", "wall_s"), ("CPU s", "cpu_s"),
    ("peak RSS MB", "peak_rss_mb"), ("tree RSS MB", "tree_rss_mb"), ("ms/id wall", "ms_per_id"),
    ("ms/id CPU", "cpu_ms_per_id"), ("AWS req/id", "aws_req_per_id"), ("Vault req/id", "vault_req_per_id"), ("moto CPU s", "moto"),
    ("bao CPU s", "openbao"), ("ours/floor", "ours_over_floor"), ("peer/ours", "peer_over_ours"), ("ok", "ok"),
]


def _cell(row, key):
    if key in ("moto", "openbao"):
        value = (row.get("backend_cpu_s") or {}).get(key)
    elif key == "ok":
        if not row.get("measured", True):
            return "extrapolated from N=%d" % row["extrapolated_from"]
        return "yes" if row.get("verified") else "NO (%s)" % (
            "rc %s" % row.get("rc") if row.get("rc") else "%d not done" % row.get("problem_count", 0))
    elif key == "ours_over_floor" and row.get(key) is not None:
        return "%.2f (CPU %.2f)" % (row[key], row.get("ours_over_floor_cpu") or 0)
    elif key == "peer_over_ours" and row.get(key) is not None:
        return "%.1f (CPU %.1f)%s" % (row[key], row.get("peer_over_ours_cpu") or 0,
                                      "" if row.get("measured", True) else " *")
    else:
        value = row.get(key)
    if value is None:
        return "-"
    if key == "contender" and not row.get("measured", True):
        return "peer *"
    if key == "wall_s" and not row.get("measured", True):
        return "~%s *" % value
    return str(value)


def table(rows, markdown=False):
    header = [h for h, _k in COLUMNS]
    body = [[_cell(r, k) for _h, k in COLUMNS] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) if body else len(h) for i, h in enumerate(header)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    return "\n".join([fmt % tuple(header), fmt % tuple("-" * w for w in widths)] + [fmt % tuple(c) for c in body])


def notes(meta, peer_n):
    return [
        "* = extrapolated: the peer runs at N=%d only (its cost per identity does not depend on N: one module "
        "run per user per step); its wall and CPU at other N are its per-identity figures times N." % peer_n,
        "CPU s = user+sys of the contender's whole process tree (wait4). peak RSS = its largest process; tree RSS "
        "= the sum over the tree at its sampled peak.",
        "moto/bao CPU s = CPU the backends spent meanwhile. moto_server is one Python process and caps the "
        "throughput of every contender. Bench patches to moto: %s (see MOTO_LAUNCHER in bench/run.py; stock "
        "moto finds a key's user by a linear scan, which makes large N measure moto)." % meta.get("moto_patches", "?"),
        "AWS/Vault req/id = requests moto logged / OpenBao audited per identity. ratios are of wall time (CPU in "
        "brackets).",
        "machine: %s CPUs, load average %s at start; timings on a busy machine are noisy." % (
            meta["cpus"], meta["loadavg_start"]),
    ]


def versions():
    out = {"python": platform.python_version()}
    for label, exe in (("ours", os.path.join(VENV, "bin", "ansible-playbook")),
                       ("peer", os.path.join(PEER_VENV, "bin", "ansible-playbook"))):
        if os.access(exe, os.X_OK):
            try:
                first = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60,
                                       check=False).stdout.splitlines()
                out["ansible_" + label] = first[0] if first else None
            except (OSError, subprocess.TimeoutExpired):
                out["ansible_" + label] = None
    try:
        out["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, timeout=10, check=False).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        out["git"] = None
    return out


def write_results(rows, meta, out_dir, peer_n):
    os.makedirs(out_dir, exist_ok=True)
    stamp = meta["started"].replace(":", "").replace("-", "")[:15]
    doc = {"meta": meta, "rows": rows, "notes": notes(meta, peer_n)}
    paths = []
    for name in ("bench-%s" % stamp, "latest"):
        path = os.path.join(out_dir, name + ".json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, default=str)
        md = os.path.join(out_dir, name + ".md")
        with open(md, "w", encoding="utf-8") as handle:
            handle.write("# make bench, %s\n\n" % meta["started"])
            handle.write("Versions: %s\n\n" % ", ".join("%s %s" % kv for kv in meta["versions"].items()))
            handle.write(table(rows, markdown=True) + "\n\n")
            handle.write("\n".join("- " + line for line in notes(meta, peer_n)) + "\n")
        paths += [path, md]
    return paths


# --------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     epilog="See bench/README.md.")
    parser.add_argument("--n", default="100,1000,10000", help="comma-separated N (default 100,1000,10000)")
    parser.add_argument("--ops", default=None,
                        help="comma-separated operations (default: rotate,offboard, plus reconcile when "
                             "playbooks/reconcile.yml exists)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="default floor,ours,peer")
    parser.add_argument("--peer-n", type=int, default=200, help="the one N the peer runs at (default 200)")
    parser.add_argument("--workers", type=int, default=16, help="worker pool of floor, seed and ours (16)")
    parser.add_argument("--backends", choices=("fresh", "running"), default="fresh",
                        help="fresh: start OpenBao+moto here for every operation and N and stop them after "
                             "(default); running: use the ones in .run/backends.env as they are")
    parser.add_argument("--stock-moto", action="store_true",
                        help="with fresh backends, run moto_server unchanged (see MOTO_LAUNCHER: its access-key "
                             "lookup is a linear scan, so large N then measures moto)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per contender run (default scales with N)")
    parser.add_argument("--out", default=RESULTS, help="where the JSON and Markdown go (bench/results)")
    parser.add_argument("--py-spy", default=None, metavar="PATH",
                        help="profile ours with this py-spy (raw folded stacks in the work dir; use with --work-dir). "
                             "Its figures then include py-spy's overhead")
    parser.add_argument("--work-dir", default=None, help="keep catalogs, logs and evidence here (default: a temp dir, removed)")
    return parser.parse_args(argv)


def plan(args):
    ns = sorted({int(x) for x in args.n.split(",") if x.strip()})
    if args.ops:
        ops = [OPERATIONS[o.strip()] for o in args.ops.split(",") if o.strip()]
    else:
        ops = [op for op in OPERATIONS.values() if op.available()]
    missing = [op.name for op in ops if not op.available()]
    if missing:
        raise SystemExit("bench: no playbook for %s yet (%s)" % (", ".join(missing), ", ".join(
            OPERATIONS[m].playbook for m in missing)))
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for c in contenders:
        if c not in CONTENDERS:
            raise SystemExit("bench: unknown contender %r (choose from %s)" % (c, ", ".join(CONTENDERS)))
    if "peer" in contenders and not peer_available():
        raise SystemExit("bench: %s/bin/ansible-playbook is missing; create the peer venv: "
                         "%s -m venv .venv-peer && .venv-peer/bin/pip install -r bench/peer/requirements.txt "
                         "(make bench does this), or pass --contenders floor,ours"
                         % (PEER_VENV, "/root/.pyenv/versions/3.11.7/bin/python3"))
    cycles = []
    for op in ops:
        for n in sorted(set(ns) | ({args.peer_n} if "peer" in contenders else set())):
            # At the peer's own N, floor and ours run beside it, for a measured peer/ours.
            here = [c for c in contenders if c != "peer" or n == args.peer_n]
            if here:
                cycles.append((op, n, here))
    return cycles


def main(argv=None):
    args = parse_args(argv)
    cycles = plan(args)
    meta = {"started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpus": os.cpu_count(), "loadavg_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "backends": args.backends, "workers": args.workers, "peer_n": args.peer_n,
            "versions": versions(), "argv": sys.argv[1:]}
    work_root = args.work_dir or tempfile.mkdtemp(prefix="nhi-bench-")
    os.makedirs(work_root, exist_ok=True)
    log("work dir %s; %d cycle(s): %s" % (work_root, len(cycles), ", ".join(
        "%s N=%d (%s)" % (op.name, n, "+".join(c)) for op, n, c in cycles)))
    rows = []
    shared = Backends.running() if args.backends == "running" else None
    try:
        for op, n, contenders in cycles:
            backends = shared
            if backends is None:
                t0 = time.monotonic()
                backends = Backends.start_fresh(os.path.join(work_root, "backends-%s-%d" % (op.name, n)),
                                                stock_moto=args.stock_moto)
                log("%s N=%d: fresh OpenBao + moto in %.1f s" % (op.name, n, time.monotonic() - t0))
            meta["moto_patches"] = backends.moto_patches
            try:
                rows.extend(run_cycle(op, n, contenders, args, backends, work_root))
            except Exception as exc:  # pylint: disable=broad-except
                # one broken cycle (a seed that failed, a backend that died) must not lose the others
                log("%s N=%d: cycle failed: %s: %s" % (op.name, n, type(exc).__name__, exc))
                meta.setdefault("failed_cycles", []).append("%s N=%d: %s" % (op.name, n, exc))
            finally:
                if backends is not shared:
                    backends.stop()
    except KeyboardInterrupt:
        log("interrupted; reporting what was measured")
    finally:
        meta["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = derive(rows, args.peer_n)
        print(table(rows))
        for line in notes(meta, args.peer_n):
            print(line)
        if rows:
            paths = write_results(rows, meta, args.out, args.peer_n)
            log("results: %s" % ", ".join(os.path.relpath(p, ROOT) if p.startswith(ROOT) else p for p in paths[:2]))
        if not args.work_dir:
            shutil.rmtree(work_root, ignore_errors=True)
        else:
            log("kept %s" % work_root)
    bad = [r for r in rows if r.get("measured", True) and not r.get("verified")]
    return 1 if bad or meta.get("failed_cycles") else 0


if __name__ == "__main__":
    sys.exit(main())
