#!/bin/sh
# Worktrees, offline: two agents edit the same file, each on a branch of its own; a third
# builds on the first one's branch; then merge what is wanted and clean up. Runs in a
# scratch git repository (or the directory given as $1).
set -eu
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mh-worktrees.XXXXXX")}
mkdir -p "$work"
cd "$work"
export MH_ROOT="$work"
git init -q -b main
git config user.name demo
git config user.email demo@example.com
echo "# Notes" > NOTES.md
mkdir roadmaps
printf 'roadmaps/\n' > .gitignore
git add NOTES.md .gitignore
git commit -qm "notes"
for id in a b c; do printf -- '- [ ] add a note\n' > "roadmaps/$id.md"; done
# The agent: one line in NOTES.md, committed on the harness's branch.
agent='echo "- a note from $MH_ID" >> NOTES.md && git commit -qam "$MH_ID: a note" && echo "<promise>COMPLETE</promise>"'

echo '$ mh-spawn a roadmaps/a.md --worktree ...; mh-spawn b roadmaps/b.md --worktree ...; mh-wait a b'
mh-spawn a roadmaps/a.md --worktree --agent-cmd "$agent" --detach
mh-spawn b roadmaps/b.md --worktree --agent-cmd "$agent" --detach
mh-wait a b

echo; echo '$ mh-status'
mh-status

echo; echo '$ mh-diff a'
mh-diff a

echo; echo '$ mh-spawn c roadmaps/c.md --worktree --base mh/a --after a ...   (a pipeline stage)'
mh-spawn c roadmaps/c.md --worktree --base mh/a --after a --agent-cmd "$agent" -q
git log --format='  %s' mh/c

echo; echo '$ mh-clean --dry-run   (once a is gone, only c holds the work of a and c, and only b that of b)'
mh-clean --dry-run 2>&1 || echo "exit $?"

echo; echo '$ git merge mh/c; mh-clean'
git merge -q mh/c
mh-clean 2>&1 || echo "exit $?"

echo; echo '$ mh-clean --force b   (throw b away)'
mh-clean --force b
git branch --list --format='  %(refname:short)'
cat NOTES.md
