#!/bin/sh
# Lamina's Java runtime launcher, shown at /var/runtime/bootstrap.
# Usage: bootstrap <java executable> <runtime jar> <CDS archive or ""> <handler>
#
# A script rather than a fixed argv because the heap must follow the function's memory size,
# which only the environment knows (AWS_LAMBDA_FUNCTION_MEMORY_SIZE). The flags are the ones
# that matter for a short-lived JVM: C1 only (TieredStopAtLevel=1) and the serial collector
# start fastest; -Xmx is 85% of the memory size so the cgroup limit, not the JVM's view of the
# host's RAM, bounds the heap. The CDS archive (recorded when the runtime was built, see
# java.py) maps the runtime's classes instead of loading them; if the JDK changed since, the
# JVM ignores it silently (-Xshare:auto, cds logging off). JAVA_TOOL_OPTIONS still applies.
java="$1"
jar="$2"
cds="$3"
shift 3
mem="${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-128}"
case "$mem" in ''|*[!0-9]*) mem=128 ;; esac
exec "$java" \
  -XX:+TieredCompilation -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
  ${cds:+-XX:SharedArchiveFile=$cds -Xlog:cds=off -Xlog:cds+dynamic=off} \
  -Xmx"$((mem * 85 / 100))m" -Djava.net.preferIPv4Stack=true -Dfile.encoding=UTF-8 \
  -cp "$jar" lamina.runtime.Main "$@"
