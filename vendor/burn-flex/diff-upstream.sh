#!/usr/bin/env bash
# Prints asl's changes to burn-flex as one patch against the crate exactly as published:
# downloads burn-flex VERSION from crates.io (its SHA-256 checked against the crates.io index),
# unpacks it in a temporary folder and diffs it with this folder (PATCHES.md says why each
# change is there).
#
#     vendor/burn-flex/diff-upstream.sh > asl-burn-flex.patch        # review
#     cd burn-flex-0.23.0 && patch -p1 < asl-burn-flex.patch          # carry to a new burn
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -n1)}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
crate="$tmp/burn-flex-$version.crate"
curl -fsSL -o "$crate" "https://static.crates.io/crates/burn-flex/burn-flex-$version.crate"
want=$(curl -fsSL https://index.crates.io/bu/rn/burn-flex | python3 -c '
import json, sys
v = sys.argv[1]
print(next(json.loads(l)["cksum"] for l in sys.stdin if json.loads(l)["vers"] == v))' "$version")
got=$(sha256sum "$crate" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "burn-flex $version: SHA-256 $got, the crates.io index says $want" >&2
  exit 1
fi
tar xzf "$crate" -C "$tmp"
# Cargo's packaging files are not source: the vendored copy leaves out the last two, and the
# diff skips .cargo-ok (written by the unpacking) and this script.
rm -f "$tmp/burn-flex-$version"/{.cargo_vcs_info.json,Cargo.toml.orig}
cd "$tmp"
ln -s "$here" asl
# diff exits 1 when the trees differ, which is the point.
diff -ruN -x .cargo-ok -x diff-upstream.sh "burn-flex-$version" asl || [ $? -eq 1 ]
