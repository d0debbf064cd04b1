#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Local real backends for nhi.lifecycle's integration tests and demo:
#   OpenBao dev server (Vault API), moto_server (AWS IAM/STS) with auth
#   enforcement, scim2-server with a bearer token, and the GCP IAM stand-in
#   (tests/backends/gcp_iam.py) when it exists.
#
# usage: scripts/backends.sh start|stop|status|env
#
# Everything lives under .run/ (git-ignored): <name>.pid, <name>.log and
# backends.env (mode 0600, `export` lines with the endpoints and the tokens).
# Ports are free loopback ports picked by the kernel, so several checkouts can
# run their own backends side by side. `stop` kills only the processes whose
# PIDs this script recorded, after checking they still run what we started.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN="$ROOT/.run"
ENV_FILE="$RUN/backends.env"
VENV="${NHI_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
HELPER="$ROOT/scripts/_bootstrap_backends.py"
GCP_STANDIN="$ROOT/tests/backends/gcp_iam.py"
WAIT_S="${NHI_BACKENDS_WAIT:-30}"
BACKENDS=(openbao moto scim gcp)

die() { printf 'backends: %s\n' "$*" >&2; exit 1; }
say() { printf 'backends: %s\n' "$*" >&2; }

need_venv() {
  [[ -x "$PY" ]] || die "no Python at $PY; run 'make venv' first (or set NHI_VENV to a venv with requirements/test.txt)"
  local tool
  for tool in bao moto_server scim2-server; do
    [[ -x "$VENV/bin/$tool" ]] || die "$VENV/bin/$tool is missing; run 'make venv' to install requirements/test.txt"
  done
}

# What /proc/PID/cmdline must contain for PID to still be our backend.
signature() {
  case "$1" in
    openbao) echo "server" ;;        # bao server -dev ...
    moto) echo "moto_server" ;;
    scim) echo "scim2-server" ;;
    gcp) echo "gcp_iam.py" ;;
    *) return 1 ;;
  esac
}

# Print the PID recorded for backend $1 if that process still runs what we started.
live_pid() {
  local name=$1 pidfile="$RUN/$1.pid" pid cmd sig
  [[ -f "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  sig=$(signature "$name")
  [[ "$cmd" == *"$sig"* && "$cmd" == *"127.0.0.1"* ]] || return 1
  # Zombies have an empty cmdline, so they never match above.
  printf '%s\n' "$pid"
}

# spawn NAME LOG CMD... : start CMD detached (own session), record its PID.
spawn() {
  local name=$1 log=$2
  shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  printf '%s\n' "$!" >"$RUN/$name.pid"
}

stop_one() {
  local name=$1 pid i
  if pid=$(live_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      live_pid "$name" >/dev/null || break
      sleep 0.2
    done
    if live_pid "$name" >/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  elif [[ -f "$RUN/$name.pid" ]]; then
    say "$name: recorded pid $(<"$RUN/$name.pid") no longer runs $(signature "$name"); not touching it"
  fi
  rm -f "$RUN/$name.pid"
}

cmd_stop() {
  local name
  for name in "${BACKENDS[@]}"; do
    stop_one "$name"
  done
  rm -f "$ENV_FILE" "$ENV_FILE.tmp"
}

healthy() {
  [[ -f "$ENV_FILE" ]] || return 1
  live_pid openbao >/dev/null && live_pid moto >/dev/null && live_pid scim >/dev/null || return 1
  if [[ -f "$GCP_STANDIN" ]]; then
    live_pid gcp >/dev/null && grep -q '^export NHI_GCP_ACCESS_TOKEN=' "$ENV_FILE" || return 1
  fi
  [[ -x "$PY" ]] || return 1
  "$PY" "$HELPER" check "$ENV_FILE" 2>/dev/null
}

random_token() { "$PY" -c 'import secrets; print(secrets.token_hex(24))'; }

# The env file with secret values hidden, for logs (CI output included).
show_env_masked() {
  sed -E 's/^(export [A-Z_]*(TOKEN|SECRET_ACCESS_KEY)=).*/\1<hidden>/' "$ENV_FILE"
  say "full values: 'scripts/backends.sh env' (or: source $ENV_FILE)"
}

on_start_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    say "start failed; stopping what was started"
    cmd_stop 2>/dev/null || true
  fi
}

cmd_start() {
  need_venv
  mkdir -p "$RUN"
  chmod 700 "$RUN"
  if healthy; then
    say "already running and healthy ($ENV_FILE)"
    show_env_masked
    return 0
  fi
  # A partial or stale set: clear out only what we recorded, then start afresh.
  cmd_stop 2>/dev/null
  trap on_start_exit EXIT

  local tmp="$ENV_FILE.tmp" bao_port moto_port scim_port gcp_port vault_token scim_token gcp_token
  (umask 077 && : >"$tmp")

  # (a) OpenBao dev server. HOME points into .run/ so that its token helper
  # writes .run/bao-home/.vault-token and never the user's ~/.vault-token.
  bao_port=$("$PY" "$HELPER" free-port --pair)   # dev mode listens on port+1 for cluster traffic
  vault_token=$(random_token)
  mkdir -p "$RUN/bao-home"
  spawn openbao "$RUN/openbao.log" env HOME="$RUN/bao-home" "$VENV/bin/bao" server -dev \
    "-dev-listen-address=127.0.0.1:$bao_port" "-dev-root-token-id=$vault_token"
  "$PY" "$HELPER" wait-http OpenBao "http://127.0.0.1:$bao_port/v1/sys/health" "$RUN/openbao.log" \
    --timeout "$WAIT_S" --pid "$(<"$RUN/openbao.pid")"
  VAULT_ADDR="http://127.0.0.1:$bao_port" VAULT_TOKEN="$vault_token" "$PY" "$HELPER" bao-setup \
    || die "could not set up OpenBao at http://127.0.0.1:$bao_port (log: $RUN/openbao.log)"
  {
    printf 'export VAULT_ADDR=%s\n' "http://127.0.0.1:$bao_port"
    printf 'export VAULT_TOKEN=%s\n' "$vault_token"
    printf 'export BAO_ADDR=%s\n' "http://127.0.0.1:$bao_port"
    printf 'export BAO_TOKEN=%s\n' "$vault_token"
  } >>"$tmp"

  # (b) moto_server, then the admin user, then auth enforcement.
  moto_port=$("$PY" "$HELPER" free-port)
  spawn moto "$RUN/moto.log" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
  "$PY" "$HELPER" wait-http moto "http://127.0.0.1:$moto_port/moto-api/" "$RUN/moto.log" \
    --timeout "$WAIT_S" --pid "$(<"$RUN/moto.pid")"
  "$PY" "$HELPER" moto-bootstrap "http://127.0.0.1:$moto_port" >>"$tmp" \
    || die "could not bootstrap the nhi-admin user in moto at http://127.0.0.1:$moto_port (log: $RUN/moto.log)"
  {
    printf 'export AWS_ENDPOINT_URL=%s\n' "http://127.0.0.1:$moto_port"
    printf 'export NHI_MOTO_URL=%s\n' "http://127.0.0.1:$moto_port"
    printf 'export AWS_REGION=us-east-1\n'
    printf 'export AWS_DEFAULT_REGION=us-east-1\n'
  } >>"$tmp"

  # (c) scim2-server with a random bearer token.
  scim_port=$("$PY" "$HELPER" free-port)
  scim_token=$(random_token)
  spawn scim "$RUN/scim.log" "$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$scim_port" \
    "--bearer-token=$scim_token"
  "$PY" "$HELPER" wait-http scim2-server "http://127.0.0.1:$scim_port/ServiceProviderConfig" "$RUN/scim.log" \
    --timeout "$WAIT_S" --pid "$(<"$RUN/scim.pid")"
  {
    printf 'export NHI_SCIM_URL=%s\n' "http://127.0.0.1:$scim_port"
    printf 'export NHI_SCIM_TOKEN=%s\n' "$scim_token"
  } >>"$tmp"

  # (d) the GCP IAM stand-in, once it exists. Its admin token goes in through
  # the environment (not argv, which `ps` shows); the collection's GCP
  # connector picks it up as NHI_GCP_ACCESS_TOKEN (gcp_auth_kind=access_token).
  if [[ -f "$GCP_STANDIN" ]]; then
    gcp_port=$("$PY" "$HELPER" free-port)
    gcp_token=$(random_token)
    spawn gcp "$RUN/gcp.log" env NHI_GCP_ADMIN_TOKEN="$gcp_token" "$PY" "$GCP_STANDIN" \
      --host 127.0.0.1 --port "$gcp_port"
    "$PY" "$HELPER" wait-http "GCP IAM stand-in" "http://127.0.0.1:$gcp_port/health" "$RUN/gcp.log" \
      --timeout "$WAIT_S" --pid "$(<"$RUN/gcp.pid")"
    {
      printf 'export NHI_GCP_ENDPOINT=%s\n' "http://127.0.0.1:$gcp_port"
      printf 'export NHI_GCP_ACCESS_TOKEN=%s\n' "$gcp_token"
    } >>"$tmp"
  else
    say "no $GCP_STANDIN yet; starting without the GCP stand-in"
  fi

  mv "$tmp" "$ENV_FILE"
  trap - EXIT
  say "started; endpoints and tokens in $ENV_FILE (stop with 'make backends-stop')"
  show_env_masked
}

cmd_status() {
  local name pid rc=0
  for name in "${BACKENDS[@]}"; do
    if pid=$(live_pid "$name"); then
      printf '%-8s running (pid %s)\n' "$name" "$pid"
    elif [[ "$name" == gcp && ! -f "$GCP_STANDIN" ]]; then
      printf '%-8s not available (no %s)\n' "$name" "${GCP_STANDIN#"$ROOT"/}"
    else
      printf '%-8s stopped\n' "$name"
      rc=1
    fi
  done
  if [[ $rc -eq 0 ]] && ! healthy; then
    printf 'processes run but do not all answer; see the logs in %s\n' "$RUN"
    rc=1
  fi
  return "$rc"
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE; run 'make backends-start' first"
  cat "$ENV_FILE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) die "usage: $0 start|stop|status|env" ;;
esac
