#!/bin/sh
# aigw-alert.sh: an example alert_command for aigw.ini(5). The gateway runs
# it once per consumer, budget, threshold and period, with the facts in the
# environment; this one posts them to a chat webhook (Slack, Mattermost and
# Teams incoming webhooks all take {"text": ...}).
#
#   [gateway]
#   alert_at      = 50, 80, 100
#   alert_command = /usr/local/etc/aigw/aigw-alert.sh
#
# AIGW_WEBHOOK_URL is read from /usr/local/etc/aigw/alert.env when it exists
# (keep that file 0600: a webhook URL is a secret).
#
#   AIGW_CONSUMER   the consumer whose spend crossed the threshold
#   AIGW_BUDGET     day or month
#   AIGW_PERCENT    the threshold crossed (one of alert_at)
#   AIGW_SPENT_USD  spent so far in the period, in US dollars
#   AIGW_LIMIT_USD  the budget, in US dollars
set -eu
[ -r /usr/local/etc/aigw/alert.env ] && . /usr/local/etc/aigw/alert.env
: "${AIGW_WEBHOOK_URL:?set AIGW_WEBHOOK_URL in alert.env}"
text="aigw: $AIGW_CONSUMER has spent \$$AIGW_SPENT_USD of its $AIGW_BUDGET budget of \$$AIGW_LIMIT_USD ($AIGW_PERCENT%)"
# The consumer name comes from the policy; escape it for JSON all the same.
json=$(printf '%s' "$text" | sed 's/\\/\\\\/g; s/"/\\"/g')
curl -fsS --max-time 10 -H 'Content-Type: application/json' -d "{\"text\":\"$json\"}" "$AIGW_WEBHOOK_URL"
