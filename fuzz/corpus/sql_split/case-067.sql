ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now() NOT NULL;
