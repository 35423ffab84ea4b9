CREATE TABLE fresh (id int PRIMARY KEY);
CLUSTER fresh USING fresh_pkey;
