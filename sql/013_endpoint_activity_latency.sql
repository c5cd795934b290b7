-- endpoint_activity, version 2: the latency of each window's successful requests, as a sketch
-- (bucket ceil(log_γ µs) -> requests, γ = 1.01 / 0.99, bucket -1 for 0 µs; udfs/latency_sketch.py)
-- with their exact count, sum and maximum. The windows of any time range add up:
-- sumMap(latency_buckets) is the range's sketch, whose percentiles are within 1 % of exact
-- (the proxy's /latency route computes them).
ALTER TABLE endpoint_activity
    ADD COLUMN IF NOT EXISTS latency_count   UInt64 AFTER error_count,
    ADD COLUMN IF NOT EXISTS latency_sum     Float64 AFTER latency_count,
    ADD COLUMN IF NOT EXISTS latency_max     Nullable(Float64) AFTER latency_sum,
    ADD COLUMN IF NOT EXISTS latency_buckets Map(Int16, UInt64) AFTER latency_max
