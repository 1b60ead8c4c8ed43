# bench/lib.sh — shell functions the bench scripts share. Sourced (". bench/lib.sh");
# it defines functions only. start_broker needs $top, the source tree.
# shellcheck shell=sh disable=SC2154 # top: set by the sourcing script

# cpu_ticks PID...: user + system clock ticks of the processes (all their
# threads) and of their reaped children.
cpu_ticks() {
	for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
		awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { printf "%d\n", t }'
}

# descendants PID: the ids of PID's live descendants (children of any of its
# threads, recursively), one per line.
descendants() {
	# shellcheck disable=SC2013 # ids, one a word
	for d in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$d"
		descendants "$d"
	done
}

# tree_ticks PID: cpu_ticks of PID and of all its live descendants (a
# process that forks workers, such as ceilometer's cotyledon services).
tree_ticks() {
	# shellcheck disable=SC2046 # one id a word
	cpu_ticks "$1" $(descendants "$1")
}

# start_broker DIR: a private RabbitMQ node in DIR (scripts/rabbitmq), its
# variables exported (TALLY_AMQP_URL...); exits when it cannot start. Stop
# it with "sh $top/scripts/rabbitmq stop DIR" (in the caller's EXIT trap).
start_broker() {
	vars=$(sh "$top/scripts/rabbitmq" start "$1") || {
		echo "cannot start RabbitMQ" >&2
		exit 1
	}
	eval "$vars"
}
