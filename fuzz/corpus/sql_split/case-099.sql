-- tidemark:allow no-such-rule because
CREATE INDEX i ON orders (a);
