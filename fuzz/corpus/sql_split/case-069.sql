ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT statement_timestamp();
