-- The dataset version a job validates on (NULL: a held-out share of its training dataset),
-- resolved at submit like `dataset_id`, so deleting it is refused while the job is active.
ALTER TABLE jobs ADD COLUMN validation_dataset_id TEXT;
