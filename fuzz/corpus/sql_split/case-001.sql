CREATE INDEX i ON orders (a);
