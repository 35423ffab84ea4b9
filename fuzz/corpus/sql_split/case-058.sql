ALTER TABLE "orders" ADD COLUMN "shop_id" integer DEFAULT 1 NOT NULL REFERENCES "shops" ("id");
