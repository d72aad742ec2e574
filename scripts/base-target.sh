# shellcheck shell=bash
# Sourced by scripts/perf.sh and scripts/ci-regression.sh: the target dir a base checkout
# builds in.
#
# A base checkout (a git worktree of another commit) must not build into the candidate's
# target dir. Cargo names the workspace's own crates the same in both checkouts there, so the
# base build overwrites the candidate's artifacts and cargo then takes them as already built
# for the candidate: the "candidate" binary is the base (found when a paired perf run showed
# no change after a measured 5x).

# seed_base_target SRC TARGET: unless TARGET already has a release build, copies the
# candidate's (if any) so dependencies need not compile again, and cleans the workspace's own
# crates out of the copy, or the base's sources (older files than the copied artifacts) would
# look already built and the base would run the candidate's code.
seed_base_target() {
    local src="$1" target="$2" members
    [[ -d "$target/release" || ! -d "$ROOT/target/release" ]] && return 0
    mkdir -p "$target"
    cp -r "$ROOT/target/release" "$target/release"
    members="$(cargo metadata --no-deps --format-version 1 --manifest-path "$src/Cargo.toml" \
        | python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')"
    # shellcheck disable=SC2086 # one word per package flag
    (cd "$src" && CARGO_TARGET_DIR="$target" cargo clean --release -q $members)
}
