LOCK TABLE orders;
