#!/usr/bin/env bash
# The shipped alerting rules pass their unit tests, and the tests can fail: each
# alert's expression broken in turn (its comparison turned around) must make
# `promtool test rules` fail.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../deploy/prometheus" && pwd)
command -v promtool >/dev/null || { echo "promtool missing (apt-get install prometheus)"; exit 1; }
promtool check rules "$src/vmsgate-alerts.yml"
promtool test rules "$src/vmsgate-alerts.test.yml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src/vmsgate-alerts.test.yml" "$work/"
broken=0
for alert in $(grep -o 'alert: [A-Za-z0-9]*' "$src/vmsgate-alerts.yml" | cut -d' ' -f2); do
  # Turn the first comparison after this alert's name around (< becomes >, == 0
  # becomes != 0): the alert then fires when it should not and not when it should.
  awk -v name="$alert" '
    $0 ~ "alert: " name "$" { inside = 1 }
    inside && !done && /(<|>|==)/ {
      if (sub(/ < /, " > ")) done = 1
      else if (sub(/ > /, " < ")) done = 1
      else if (sub(/ == 0/, " != 0")) done = 1
    }
    { print }' "$src/vmsgate-alerts.yml" > "$work/vmsgate-alerts.yml"
  if cmp -s "$src/vmsgate-alerts.yml" "$work/vmsgate-alerts.yml"; then
    echo "could not break $alert's expression"; exit 1
  fi
  if promtool test rules "$work/vmsgate-alerts.test.yml" >/dev/null 2>&1; then
    echo "the unit tests still pass with $alert's expression broken: it is not tested"; exit 1
  fi
  broken=$((broken + 1))
done
echo "alerts: the rules pass their tests, and each of the $broken alerts, broken, fails them"
