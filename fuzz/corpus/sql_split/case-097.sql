-- tidemark:allow require-concurrent-index-creation orders is a 10-row lookup table
CREATE INDEX i ON orders (a);
CREATE INDEX j ON lines (a);
