-- reference_features, version 2: categorical features. feature_kind is 'numeric',
-- 'categorical' (strings or booleans in training; booleans are the categories 'true'/'false')
-- or 'categorical_number' (numbers registered with --categorical, matched by value); empty for
-- a row registered before it (numeric when it has bin_edges). A categorical feature's
-- categories are its top training categories by frequency, and its bin_counts count each of
-- them, then __other__ (training values outside that list), then __missing__ (nulls).
ALTER TABLE reference_features
    ADD COLUMN IF NOT EXISTS feature_kind LowCardinality(String) AFTER feature_name,
    ADD COLUMN IF NOT EXISTS categories   Array(String) AFTER bin_counts
