-- Alert rules (DESIGN.md "Alerts"), managed with `modelmon alert add|remove` and the REST
-- routes; the job picks them up without a restart. One row per change: the newest row of a
-- (project, name) wins (read with FINAL), and `deleted` = 1 removes the rule. endpoint is an
-- endpoint id or '*' for every endpoint of the project; threshold is NULL for the kinds that
-- compare a drift status; notify holds the targets as given (webhook:, slack:, kafka://, smtp://).
CREATE TABLE IF NOT EXISTS alert_rules
(
    project          LowCardinality(String),
    name             String,
    endpoint         String,
    kind             LowCardinality(String),
    threshold        Nullable(Float64),
    count            UInt32,
    period_seconds   UInt32,
    cooldown_seconds UInt32,
    reset            LowCardinality(String),
    severity         LowCardinality(String),
    notify           Array(String),
    changed_at       DateTime64(6, 'UTC') DEFAULT now64(6),
    deleted          UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(changed_at, deleted)
ORDER BY (project, name)
