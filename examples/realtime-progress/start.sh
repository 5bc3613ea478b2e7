#!/usr/bin/env bash
# Enqueues a demo job, mints a stream token for it, and prints the page's URL; then reports
# progress as an HTTP worker would (lease, progress every second, complete).
# Usage: PALISADE=http://127.0.0.1:8080 KEY=<tenant key> ./start.sh
set -euo pipefail
: "${PALISADE:=http://127.0.0.1:8080}" "${KEY:?set KEY to a tenant API key}"
h=(-H "Authorization: Bearer $KEY" -H 'content-type: application/json')
job=$(curl -fsS -X POST "$PALISADE/v1/jobs" "${h[@]}" \
  -d '{"queue":"demo","kind":"report.build","payload":{}}' | jq -r .job.id)
token=$(curl -fsS -X POST "$PALISADE/v1/streams/tokens" "${h[@]}" \
  -d "{\"principal\":\"demo-user\",\"jobs\":[\"$job\"],\"ttl_ms\":600000}" | jq -r .token)
here=$(cd "$(dirname "$0")" && pwd)
echo "Open: file://$here/index.html?api=$PALISADE&job=$job&token=$token"
echo "(from a file:// page the browser needs CORS or --disable-web-security: see README.md)"
read -r -p "Press Enter to run the job... "
lease=$(curl -fsS -X POST "$PALISADE/v1/jobs/lease" "${h[@]}" \
  -d '{"queue":"demo","worker":"demo-worker","wait_ms":5000}')
tok=$(jq -r '.jobs[0].token' <<<"$lease")
for p in 10 20 30 40 50 60 70 80 90; do
  sleep 1
  curl -fsS -o /dev/null -X POST "$PALISADE/v1/jobs/$job/progress" "${h[@]}" \
    -d "{\"token\":$tok,\"percent\":$p}"
done
curl -fsS -o /dev/null -X POST "$PALISADE/v1/jobs/$job/complete" "${h[@]}" -d "{\"token\":$tok}"
echo "completed"
