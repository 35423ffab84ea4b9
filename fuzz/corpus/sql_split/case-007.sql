CREATE TABLE other.orders (id int, a int);
CREATE INDEX i ON public.orders (a);
