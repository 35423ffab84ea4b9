ALTER DOMAIN positive VALIDATE CONSTRAINT positive_check;
