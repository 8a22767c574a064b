#!/bin/sh
# Lamina's .NET runtime launcher, shown at /var/runtime/bootstrap.
# Usage: bootstrap <mono executable> <handler>
#
# A script because the GC heap limit must follow the function's memory size, which only the
# environment knows (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): 85% of it, leaving room for the runtime
# itself inside the sandbox's memory limit. --debug makes Mono read the function's .pdb files,
# so stack traces carry file names and line numbers, as on AWS.
mono="$1"
shift
mem="${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-128}"
case "$mem" in ''|*[!0-9]*) mem=128 ;; esac
here="${LAMBDA_RUNTIME_DIR:-/var/runtime}"
MONO_GC_PARAMS="max-heap-size=$((mem * 85 / 100))m${MONO_GC_PARAMS:+,$MONO_GC_PARAMS}"
# The sandbox's /etc has no mono/ folder: use the copy of the host's taken at build time.
[ -f "$here/etc/mono/config" ] && MONO_CFG_DIR="$here/etc" && export MONO_CFG_DIR
export MONO_GC_PARAMS
exec "$mono" --debug "$here/LaminaHost.exe" "$@"
