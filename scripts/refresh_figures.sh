#!/usr/bin/env bash
# Regenerates the figures the README shows, from the current commit: builds p2pdist, runs the
# two notebook tests, and copies every notebooks/figures/NAME.png that README.md shows, with
# its sidecar NAME.json, from build/notebooks/<test>/ into notebooks/figures/. Into each
# copied sidecar it writes "commit" (git rev-parse HEAD: the commit the figure was made from)
# and "png_sha256" (of the PNG copied with it). Commit notebooks/figures/ afterwards; the test
# figures_current (tests/notebooks/check_figures.py) then checks them against what the
# notebooks plot.
# Refuses to run with uncommitted changes in loopback/, model/, cli/, campaign/, the notebooks or the bench
# records they plot (notebooks/data/): a figure must come from a commit.
# Usage: scripts/refresh_figures.sh   (from anywhere; builds in build/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build
tests=(notebook_distribution_time notebook_loopback_vs_bound notebook_campaign)

dirty=$(git status --porcelain -- loopback model cli campaign 'notebooks/*.ipynb' notebooks/data)
if [[ -n "$dirty" ]]; then
  echo "refresh_figures.sh: uncommitted changes below; a figure must come from a commit:" >&2
  echo "$dirty" >&2
  exit 1
fi
commit=$(git rev-parse HEAD)

[[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target p2pdist
ctest --test-dir "$build" --output-on-failure -R "^($(IFS='|'; echo "${tests[*]}"))\$"

mapfile -t shown < <(grep -o 'notebooks/figures/[A-Za-z0-9_.-]*\.png' README.md | sort -u)
for path in "${shown[@]}"; do
  name=${path##*/}
  from=""
  for test in "${tests[@]}"; do
    if [[ -f $build/notebooks/$test/$name && -f $build/notebooks/$test/${name%.png}.json ]]; then
      from=$build/notebooks/$test
    fi
  done
  if [[ -z $from ]]; then
    echo "refresh_figures.sh: no $name with its sidecar in $build/notebooks/{${tests[*]}}" \
         "(a notebook test skipped? it needs python3-matplotlib, jupyter-nbconvert: scripts/setup.sh)" >&2
    exit 1
  fi
  cp "$from/$name" "notebooks/figures/$name"
  # The notebook writes "figure", "notebook", "parameters", "data" one to a line at the top
  # level; "commit" and "png_sha256" go in before "parameters", the layout kept.
  /usr/bin/python3 - "$from/${name%.png}.json" "notebooks/figures/${name%.png}.json" \
                     "$commit" "notebooks/figures/$name" <<'EOF'
import hashlib, json, sys
source, target, commit, png = sys.argv[1:]
text = open(source).read()
sha = hashlib.sha256(open(png, "rb").read()).hexdigest()
marker = '\n "parameters": '
if text.count(marker) != 1:
    sys.exit(f"refresh_figures.sh: {source} does not have the layout the notebooks write")
text = text.replace(marker, f'\n "commit": "{commit}",\n "png_sha256": "{sha}",{marker}')
doc = json.loads(text)
assert doc["commit"] == commit and doc["png_sha256"] == sha and "data" in doc, target
open(target, "w").write(text)
EOF
  echo "copied $name and ${name%.png}.json from $from (made at ${commit:0:12})"
done

for png in notebooks/figures/*.png; do
  if ! printf '%s\n' "${shown[@]}" | grep -qxF "$png"; then
    echo "note: README.md does not show $png, so figures_current fails on it: git rm it" >&2
  fi
done
echo "now commit them: git add notebooks/figures && git commit -m 'figures: regenerated at ${commit:0:12}'"
