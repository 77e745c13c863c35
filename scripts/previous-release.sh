#!/usr/bin/env bash
# Print the previous release's commit, which `make api-diff` and `make test-previous` compare
# this code with: N1_BASE when it is set; else the latest tag before HEAD, where the repository
# has tags; else HEAD~1. Exits 1, printing nothing, when that commit is not in this clone.
set -euo pipefail
if [[ -n ${N1_BASE:-} ]]; then
  previous=$N1_BASE
elif ! previous=$(git describe --tags --abbrev=0 HEAD~1 2>/dev/null); then
  previous=HEAD~1
fi
git rev-parse --verify --quiet "$previous^{commit}"
