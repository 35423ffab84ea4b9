ALTER TABLE orders ADD COLUMN shop_id integer DEFAULT NULL REFERENCES shops (id);
