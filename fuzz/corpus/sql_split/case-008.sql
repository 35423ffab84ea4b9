CREATE TABLE shop.orders (id int, a int);
CREATE INDEX i ON shop.orders (a);
