ALTER TABLE orders ADD COLUMN c int;
UPDATE lines SET c = 1;
