#!/bin/sh
# Three demo harnesses in parallel, no API key and no network: spawn them, look at them,
# message one, wait for them all. Runs in a scratch directory (or the one given as $1),
# so the example roadmaps in this checkout stay unchecked.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mh-quickstart.XXXXXX")}
mkdir -p "$work"
cp "$here"/roadmaps/*.md "$here"/demo-agent.py "$here"/plan.yaml "$work"/
cd "$work"
export MH_ROOT="$work"
agent="python3 $here/demo-agent.py"

echo "\$ mh-spawn ID ROADMAP --agent-cmd '$agent' --detach   (for api, ui, docs)"
for id in api ui docs; do
    mh-spawn "$id" "$id.md" --agent-cmd "$agent" --detach
done

echo; echo '$ mh-status'
mh-status

echo; echo '$ mh-send ui "the API serves GET /items"'
mh-send ui "the API serves GET /items"

echo; echo '$ mh-wait --any api ui docs; mh-status'
mh-wait --any api ui docs
mh-status

echo; echo '$ mh-wait api ui docs; echo $?'
mh-wait api ui docs
echo $?

echo; echo '$ mh-status'
mh-status

echo; echo '# The same three as a plan (ui after api), with fresh roadmaps:'
cp "$here"/roadmaps/*.md .
echo '$ mh-run plan.yaml; echo $?'
mh-run plan.yaml
echo $?
mh-status
echo; echo "Everything the harnesses did is in $work/.harness/ (try: mh-logs ui, or cat $work/.harness/ui/log)"
