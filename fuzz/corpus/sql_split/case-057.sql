ALTER TABLE "orders" ADD COLUMN "invoice_id" integer NULL UNIQUE REFERENCES "invoices" ("id");
