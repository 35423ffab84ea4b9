ALTER TABLE orders ADD COLUMN c int;
UPDATE orders SET c = a * 2;
