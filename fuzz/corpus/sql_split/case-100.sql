-- tidemark:allow require-concurrent-index-creation
CREATE INDEX i ON orders (a);
