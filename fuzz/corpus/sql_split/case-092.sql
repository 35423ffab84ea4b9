CREATE TABLE fresh (id int, c int);
ALTER TABLE fresh ADD COLUMN d int;
UPDATE fresh SET d = 1;
