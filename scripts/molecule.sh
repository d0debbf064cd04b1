#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run the Molecule scenarios of the collection (extensions/molecule/<name>/)
# against the local real backends: `molecule test` for each, that is syntax,
# (prepare,) converge, idempotence, verify, cleanup.
#
# usage: scripts/molecule.sh [SCENARIO...]     (default: every scenario)
#
# Starts the backends (scripts/backends.sh) unless they already run, and
# stops them on exit only when it started them. Each scenario's output goes
# to .run/molecule/<name>/molecule.log, with its evidence in
# .run/molecule/<name>/evidence/ and Molecule's state in .../ephemeral/; on
# failure the end of the log is printed. NHI_MOLECULE_VERBOSE=1 streams the
# output instead. Exits non-zero when any scenario fails, when a named
# scenario does not exist, or when there is no scenario at all.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN="$ROOT/.run"
VENV="${NHI_VENV:-$ROOT/.venv}"
SCENARIOS_DIR="$ROOT/extensions/molecule"
OUT="$RUN/molecule"
COLLECTIONS="$RUN/collections"
COLL_LINK="$COLLECTIONS/ansible_collections/nhi/lifecycle"
TAIL_LINES="${NHI_MOLECULE_TAIL:-40}"

die() { printf 'molecule.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'molecule.sh: %s\n' "$*"; }

[[ -x "$VENV/bin/molecule" ]] || die "no $VENV/bin/molecule; run 'make venv' first (requirements/test.txt pins molecule)"

# Every scenario: a directory under extensions/molecule with a molecule.yml.
mapfile -t known < <(cd "$SCENARIOS_DIR" 2>/dev/null &&
  find . -mindepth 2 -name molecule.yml -printf '%h\n' | sed 's|^\./||' | sort)
[[ ${#known[@]} -gt 0 ]] || die "found no scenario (no extensions/molecule/*/molecule.yml)"

if [[ $# -gt 0 ]]; then
  selected=()
  for name in "$@"; do
    name=${name%/}
    [[ -f "$SCENARIOS_DIR/$name/molecule.yml" ]] ||
      die "no scenario '$name' (extensions/molecule/$name/molecule.yml); the scenarios are: ${known[*]}"
    selected+=("$name")
  done
else
  selected=("${known[@]}")
fi

# nhi.lifecycle resolves to this checkout through .run/collections (make venv
# makes the link; make it here too when the script runs on its own).
if [[ ! -e "$COLL_LINK" ]]; then
  mkdir -p "$(dirname "$COLL_LINK")"
  ln -sfn ../../../.. "$COLL_LINK"
fi

cd "$ROOT"
if scripts/backends.sh status >/dev/null 2>&1; then
  say "using the backends that already run (.run/backends.env)"
else
  say "starting the backends (scripts/backends.sh start); they stop again when this script ends"
  trap 'scripts/backends.sh stop >>"$RUN/backends-stop.log" 2>&1' EXIT
  scripts/backends.sh start >"$RUN/backends-start.log" 2>&1 ||
    { cat "$RUN/backends-start.log" >&2; die "the backends did not start (log above)"; }
fi
set -a
# shellcheck source=/dev/null
source "$RUN/backends.env"
set +a

# Molecule calls ansible-config and ansible-playbook from PATH. The
# scenarios' ansible.env (extensions/molecule/config.yml) points
# ANSIBLE_CONFIG at the repository's ansible.cfg, for the evidence callback
# and the catalog inventory plugin; the same here for Molecule's own calls.
export PATH="$VENV/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 PY_COLORS=0 MOLECULE_COMMAND_BORDERS=false
export PYTHONUNBUFFERED=1

failed=()
total_start=$SECONDS
# molecule SUBCOMMAND NAME: run it with the scenario's own state directory,
# into the scenario's log (and to the terminal with NHI_MOLECULE_VERBOSE=1).
run_molecule() {
  local sub=$1 name=$2 dir="$OUT/$2"
  if [[ "${NHI_MOLECULE_VERBOSE:-0}" == 1 ]]; then
    MOLECULE_EPHEMERAL_DIRECTORY="$dir/ephemeral" molecule "$sub" --scenario-name "$name" 2>&1 | tee -a "$dir/molecule.log"
  else
    MOLECULE_EPHEMERAL_DIRECTORY="$dir/ephemeral" molecule "$sub" --scenario-name "$name" >>"$dir/molecule.log" 2>&1
  fi
}

for name in "${selected[@]}"; do
  dir="$OUT/$name"
  # The test sequence ends with a cleanup (after a failed step too), so a
  # scenario starts clean unless its last run was killed or its cleanup
  # failed: then this marker is still there, and a cleanup runs first.
  marker="$OUT/$name.unfinished"
  rm -rf "$dir"
  mkdir -p "$dir/ephemeral"
  log="$dir/molecule.log"
  start=$SECONDS
  printf 'molecule.sh: %-10s ... ' "$name"
  if [[ "${NHI_MOLECULE_VERBOSE:-0}" == 1 ]]; then echo; fi
  rc=0
  if [[ -e "$marker" ]]; then
    printf '(its last run did not finish: cleanup first) '
    run_molecule cleanup "$name" || rc=$?
  fi
  touch "$marker"
  [[ $rc -ne 0 ]] || run_molecule test "$name" || rc=$?
  if [[ $rc -eq 0 ]]; then
    rm -f "$marker"
    printf 'ok (%d s)\n' "$((SECONDS - start))"
  else
    printf 'FAILED (%d s, molecule exit %d)\n' "$((SECONDS - start))" "$rc"
    if [[ "${NHI_MOLECULE_VERBOSE:-0}" != 1 ]]; then
      printf -- '---- what failed, from %s ----\n' "${log#"$ROOT"/}"
      # (Molecule colours some of its own lines whatever NO_COLOR says.)
      sed 's/\x1b\[[0-9;]*m//g' "$log" |
        grep -E 'fatal: |FAILED!|\[ERROR\]|Executed: Failed|Idempotence test failed|^\* \[' | cut -c1-600 | head -n 40 || true
      if grep -q '_non_idempotent_tasks' "$log"; then
        echo "(the idempotence run changed something, and Molecule crashed while listing what: see the PLAY RECAP of the second converge in the log)"
      fi
      printf -- '---- its last %d lines ----\n' "$TAIL_LINES"
      tail -n "$TAIL_LINES" "$log" | sed 's/\x1b\[[0-9;]*m//g'
      printf -- '---- end of %s ----\n' "${log#"$ROOT"/}"
    fi
    failed+=("$name")
    # molecule test cleans up after a failed step, but not when Molecule
    # itself crashes (its idempotence report does on some output): clean up
    # once more, so that no identity is left behind.
    if run_molecule cleanup "$name"; then
      rm -f "$marker"
    else
      say "$name: cleanup failed too; the next run cleans up first (.run/molecule/$name.unfinished)" >&2
    fi
  fi
done

elapsed=$((SECONDS - total_start))
if [[ ${#failed[@]} -gt 0 ]]; then
  die "${#failed[@]} of ${#selected[@]} scenario(s) failed in $elapsed s: ${failed[*]} (logs: .run/molecule/<name>/molecule.log)"
fi
say "${#selected[@]} scenario(s) passed in $elapsed s"
