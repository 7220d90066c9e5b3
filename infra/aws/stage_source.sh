#!/bin/sh
# Stage what the Lambda functions need (functions/, shared/, requirements.txt) into .aws-sam/src (git-ignored),
# the template's CodeUri, so `sam build` copies the app and not the repository's virtualenvs,
# node_modules and tests. Run from anywhere; `sam build` then installs requirements.txt into it.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/.aws-sam/src"
rm -rf "$src"
mkdir -p "$src"
cp -R "$root/functions" "$root/shared" "$root/requirements.txt" "$src/"
find "$src" -name "__pycache__" -type d -prune -exec rm -rf {} +
echo "staged $(find "$src" -name '*.py' | wc -l | tr -d ' ') Python files into $src"
