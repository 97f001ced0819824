#!/bin/sh
# A merge queue, offline: three agents work on branches of their own; two land cleanly,
# one conflicts and is handed to a resolver harness; then everything is cleaned up.
# Runs in a scratch git repository (or the directory given as $1).
set -eu
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mh-merge-queue.XXXXXX")}
mkdir -p "$work"
cd "$work"
export MH_ROOT="$work"
git init -q -b main
git config user.name demo
git config user.email demo@example.com
echo "# Notes" > NOTES.md
printf 'roadmaps/\n' > .gitignore
git add NOTES.md .gitignore
git commit -qm "notes"
mkdir roadmaps
for id in api ui docs; do printf -- '- [ ] do the work\n' > "roadmaps/$id.md"; done

# api and ui each add a file of their own; docs edits NOTES.md, as main does meanwhile.
own='echo "work of $MH_ID" > "$MH_ID.txt" && git add "$MH_ID.txt" && git commit -qm "$MH_ID: its file" && echo "<promise>COMPLETE</promise>"'
note='echo "- from docs" >> NOTES.md && git commit -qam "docs: a note" && echo "<promise>COMPLETE</promise>"'
echo '$ mh-spawn api ...; mh-spawn ui ...; mh-spawn docs ... (all --worktree); mh-wait api ui docs'
mh-spawn api roadmaps/api.md --worktree --agent-cmd "$own" --detach
mh-spawn ui roadmaps/ui.md --worktree --agent-cmd "$own" --detach
mh-spawn docs roadmaps/docs.md --worktree --agent-cmd "$note" --detach
mh-wait api ui docs
echo "- from main" >> NOTES.md && git commit -qam "main: a note"

echo; echo '$ mh-merge --dry-run --all-completed --into main'
mh-merge --dry-run --all-completed --into main

echo; echo '$ mh-merge api ui docs --into main --verify "test -s api.txt"'
mh-merge api ui docs --into main --verify 'test -s api.txt' || echo "exit $?"

echo; echo '$ mh-status'
mh-status --wide

# The resolver keeps both notes: a real agent would read the conflict and do the same.
resolve='git merge -q main -m "merge main" >/dev/null 2>&1; printf "# Notes\n- from main\n- from docs\n" > NOTES.md && git add NOTES.md && git commit -qm "docs: resolved" && echo "<promise>COMPLETE</promise>"'
echo; echo '$ mh-merge docs --into main --on-conflict spawn --agent-cmd ...'
mh-merge docs --into main --on-conflict spawn --agent-cmd "$resolve"

echo; echo '$ git log --oneline main; cat NOTES.md'
git log --format='  %s' main
cat NOTES.md

echo; echo '$ mh-clean'
mh-clean
git branch --list --format='  %(refname:short)'
