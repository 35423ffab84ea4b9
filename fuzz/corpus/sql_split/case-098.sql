-- tidemark:allow ban-drop-table the index is what we mean
CREATE INDEX i ON orders (a);
