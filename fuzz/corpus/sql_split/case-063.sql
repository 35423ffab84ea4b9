CREATE TABLE fresh (id int);
ALTER TABLE fresh ADD COLUMN code text UNIQUE, ADD COLUMN seq bigserial;
