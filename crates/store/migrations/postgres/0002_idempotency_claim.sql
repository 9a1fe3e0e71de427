-- Idempotency keys held in flight across replicas (issue #7): a record whose `claim` is set is a
-- request that is running now (its `expires_us` is the claim's lease, `status`/`response` are
-- placeholders); `claim` NULL is a completed answer.
ALTER TABLE idempotency_key ADD COLUMN claim TEXT;
