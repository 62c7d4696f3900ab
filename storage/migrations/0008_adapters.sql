-- A model version is a full model or a LoRA adapter. An adapter needs its base to load:
-- `base` (already there) names the registered base version, `base_path` is the folder the
-- adapter is loaded onto (a registered version's folder or one under trainer.base_dirs).
ALTER TABLE models ADD COLUMN kind TEXT NOT NULL DEFAULT 'full';
ALTER TABLE models ADD COLUMN base_path TEXT NOT NULL DEFAULT '';
CREATE INDEX models_base ON models (base);
