ALTER TABLE orders ADD COLUMN r int DEFAULT floor(random() * 10);
