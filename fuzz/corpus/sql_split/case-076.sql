ALTER TABLE orders ADD CONSTRAINT positive CHECK (a > 0);
