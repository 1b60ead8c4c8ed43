# tests/integration/pipeline_lib.sh — shared by the pipeline tests (sourced
# after lib.sh).

# publisher_lines WORDS: one YAML list item per word, a publisher URL as it
# is, any other word as dispatcher://WORD.
publisher_lines() {
	for p in $1; do
		case $p in
		*://*) echo "          - $p" ;;
		*) echo "          - dispatcher://$p" ;;
		esac
	done
}

# cpu_pipeline ALL RATES: $work/pipeline.yaml with ceilometer's meter_sink
# ("*", no transformers) publishing to ALL and its cpu_sink (cpu_util by
# rate_of_change, as shipped) to RATES, each a list of publishers as
# publisher_lines takes it (a dispatcher's name or a URL); with one publisher
# in ALL, cpu_sink is at line 18.
cpu_pipeline() {
	cat >"$work/pipeline.yaml" <<YAML
---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
    - name: cpu_source
      meters:
          - "cpu"
      sinks:
          - cpu_sink
sinks:
    - name: meter_sink
      transformers:
      publishers:
$(publisher_lines "$1")
    - name: cpu_sink
      transformers:
          - name: "rate_of_change"
            parameters:
                target:
                    name: "cpu_util"
                    unit: "%"
                    type: "gauge"
                    scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
      publishers:
$(publisher_lines "$2")
YAML
}

# use_pipeline CONF: collector.pipeline $work/pipeline.yaml in CONF (put
# into the collector section, the first lines).
use_pipeline() {
	awk -v p="  pipeline: \"$work/pipeline.yaml\"" '{print} /^collector:/ {print p}' \
		"$1" >"$work/t" && mv "$work/t" "$1"
}

# wait_drained SECONDS: until the queues metering.sample (which must exist)
# and event.sample are empty and every cursor of the buffer (the stage's and
# the dispatchers') is at the end.
wait_drained() {
	i=0
	until [ "$($RABBIT ctl "$work/rmq" list_queues -q name messages 2>/dev/null |
		awk '$1 == "metering.sample" {m = 1} $1 == "metering.sample" || $1 == "event.sample" {n += $2}
			END {print m ? n : -1}')" = 0 ] &&
		"$TALLYCTL" buffer stats --path "$work/buffer" 2>/dev/null | "$PY" -c '
import json, sys
c = json.load(sys.stdin)["cursors"]
sys.exit(0 if c and all(x["lag"] == 0 for x in c) else 1)'; do
		i=$((i + 1))
		[ $i -le $(($1 * 10)) ] || fail "the queue, the stage or the dispatchers did not drain"
		sleep 0.1
	done
}
