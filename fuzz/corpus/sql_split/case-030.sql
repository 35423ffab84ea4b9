CREATE TABLE scratch (id int);
TRUNCATE scratch;
