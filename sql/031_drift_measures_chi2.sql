-- drift_measures, version 2: chi2_pvalue of a categorical feature (scipy.stats.chisquare of the
-- live counts against the reference's, Jeffreys-smoothed and scaled to the live total); NULL
-- for a numeric feature. A value at or below 0.05 is in `exceeded`.
ALTER TABLE drift_measures
    ADD COLUMN IF NOT EXISTS chi2_pvalue Nullable(Float64) AFTER jsd
