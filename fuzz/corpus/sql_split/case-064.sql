ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid();
