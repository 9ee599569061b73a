#!/bin/sh
# Fails when a C file of the project differs from what clang-format (.clang-format) makes of it.
set -eu
cd "$(dirname "$0")/.."
files=$(ls daemon/*/*.[ch] plugins/*.[ch] tests/*.[ch] sim/*.c fuzz/*.[ch] 2>/dev/null)
clang-format --dry-run --Werror $files
echo "clang-format: $(echo "$files" | wc -w) files formatted"
