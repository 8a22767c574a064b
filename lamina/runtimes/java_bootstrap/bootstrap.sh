#!/bin/sh
# Lamina's Java runtime launcher, shown at /var/runtime/bootstrap.
# Usage: bootstrap <java executable> <runtime jar> <CDS archive or ""> <handler>
#
# A script rather than a fixed argv because the heap must follow the function's memory size,
# which only the environment knows (AWS_LAMBDA_FUNCTION_MEMORY_SIZE). Every flag is chosen for
# cold starts, where CPU time matters most: the sandbox's CPU quota scales with memory as on
# AWS, so a 256 MB function gets a seventh of a core and a JVM's start-up work shows sevenfold.
# - C1 only (TieredStopAtLevel=1), compiling a method after 10x the usual invocation counts:
#   start-up code runs once, and compiling it cost ~40 ms of CPU; hot code still gets compiled.
# - the serial collector; no hsperfdata file in /tmp (-XX:-UsePerfData).
# - -Xmx 85% of the memory size, so the cgroup limit, not the host's RAM, sizes the heap.
# - the CDS archive recorded when the runtime was built (java.py) maps the runtime's classes
#   instead of loading them; if the JDK changed since, the JVM ignores it silently.
# JAVA_TOOL_OPTIONS still applies, as on AWS: a heap, GC or compiler setting in it replaces ours
# (the JVM reads it before the command line, where ours would otherwise win).
java="$1"
jar="$2"
cds="$3"
shift 3
mem="${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-128}"
case "$mem" in ''|*[!0-9]*) mem=128 ;; esac
user="${JAVA_TOOL_OPTIONS:-}"
heap="-Xmx$((mem * 85 / 100))m"
gc="-XX:+UseSerialGC"
jit="-XX:TieredStopAtLevel=1 -XX:Tier3InvocationThreshold=2000 -XX:Tier3MinInvocationThreshold=1000 \
-XX:Tier3CompileThreshold=20000 -XX:Tier3BackEdgeThreshold=600000"
case "$user" in *-Xmx*|*MaxHeapSize*|*MaxRAMPercentage*|*MaxRAMFraction*) heap="" ;; esac
case "$user" in *-XX:+Use*GC*) gc="" ;; esac
case "$user" in *Tier*|*-Xint*|*-Xcomp*|*CompileThreshold*) jit="" ;; esac
# shellcheck disable=SC2086  # the flag groups are meant to split into words
exec "$java" $jit $gc $heap -Xshare:auto -XX:-UsePerfData \
  ${cds:+-XX:SharedArchiveFile=$cds -Xlog:cds=off -Xlog:cds+dynamic=off} \
  -Djava.net.preferIPv4Stack=true -Dfile.encoding=UTF-8 \
  -cp "$jar" lamina.runtime.Main "$@"
