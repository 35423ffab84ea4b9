ALTER TABLE orders ADD COLUMN s text DEFAULT my_slug();
