-- feature_histograms, version 2: categorical bins and data quality. A categorical feature's
-- bin_counts count the reference's categories in order, then __other__, then __missing__, and
-- bin_labels names them (empty for numeric bins). Data-quality counts of the window's values:
-- missing (null or absent), type mismatch (a string for a numeric feature, a number for a
-- categorical one, a list or an object), not finite (NaN, ±Infinity), out of range (numeric:
-- the two outer bins) and unseen (categorical: __other__). count + invalid_count is every value;
-- a categorical feature's missing values are in its __missing__ bin and in count.
ALTER TABLE feature_histograms
    ADD COLUMN IF NOT EXISTS bin_labels          Array(String) AFTER bin_counts,
    ADD COLUMN IF NOT EXISTS missing_count       UInt64 AFTER bin_labels,
    ADD COLUMN IF NOT EXISTS type_mismatch_count UInt64 AFTER missing_count,
    ADD COLUMN IF NOT EXISTS nonfinite_count     UInt64 AFTER type_mismatch_count,
    ADD COLUMN IF NOT EXISTS out_of_range_count  UInt64 AFTER nonfinite_count,
    ADD COLUMN IF NOT EXISTS unseen_count        UInt64 AFTER out_of_range_count
