ALTER TABLE "orders" ADD COLUMN "code" varchar(10) NULL UNIQUE;
