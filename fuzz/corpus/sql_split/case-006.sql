CREATE TABLE fresh (id int, a int);
CREATE INDEX i ON fresh (a);
