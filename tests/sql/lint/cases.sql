-- Lint cases, squawk-style: each rule with SQL that triggers it and close variants that must
-- not. `-- case: NAME` starts a case, `(atomic: false)` after it makes a non-atomic step,
-- `(phase: PostDeploy)` a post-deploy one, `(pg: N)` lints for PostgreSQL N. `-- next step`
-- starts the case's next step: a case's steps are linted in order, as a plan's are.
-- Findings are pinned in cases.golden (TIDEMARK_UPDATE_GOLDEN=1 rewrites it; review the diff).

-- case: create-index
CREATE INDEX i ON orders (a);
-- case: create-index-concurrently (atomic: false)
CREATE INDEX CONCURRENTLY i ON orders (a);
-- case: create-index-concurrently-atomic
CREATE INDEX CONCURRENTLY i ON orders (a);
-- case: create-index-concurrently-after-begin (atomic: false)
BEGIN;
CREATE INDEX CONCURRENTLY i ON orders (a);
COMMIT;
-- case: create-index-concurrently-after-commit (atomic: false)
BEGIN;
UPDATE orders SET a = 1 WHERE id = 2;
COMMIT;
CREATE INDEX CONCURRENTLY i ON orders (a);
-- case: create-index-on-new-table
CREATE TABLE fresh (id int, a int);
CREATE INDEX i ON fresh (a);
-- case: create-index-new-table-other-schema
CREATE TABLE other.orders (id int, a int);
CREATE INDEX i ON public.orders (a);
-- case: create-index-new-table-same-schema
CREATE TABLE shop.orders (id int, a int);
CREATE INDEX i ON shop.orders (a);

-- case: drop-index
DROP INDEX i;
-- case: drop-index-concurrently (atomic: false)
DROP INDEX CONCURRENTLY i;

-- case: reindex-index
REINDEX INDEX orders_a_idx;
-- case: reindex-table
REINDEX TABLE shop.orders;
-- case: reindex-concurrently (atomic: false)
REINDEX INDEX CONCURRENTLY orders_a_idx;
-- case: reindex-concurrently-options (atomic: false)
REINDEX (CONCURRENTLY, VERBOSE) TABLE orders;
-- case: reindex-concurrently-atomic
REINDEX TABLE CONCURRENTLY orders;

-- case: detach-partition
ALTER TABLE measurements DETACH PARTITION measurements_2020;
-- case: detach-partition-concurrently (atomic: false)
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
-- case: detach-partition-concurrently-atomic
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
-- case: attach-partition
ALTER TABLE measurements ATTACH PARTITION m2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');

-- case: exclusion-constraint
ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);
-- case: exclusion-constraint-new-table
CREATE TABLE bookings (room int, during tstzrange);
ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);
-- case: exclusion-constraint-accepted
-- tidemark:allow adding-exclusion-constraint bookings holds 40 rows, checked 2026-11-30
ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);

-- case: domain-constraint
ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);
-- case: domain-constraint-not-valid
ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0) NOT VALID;
-- case: domain-validate
ALTER DOMAIN positive VALIDATE CONSTRAINT positive_check;
-- case: domain-set-not-null
ALTER DOMAIN positive SET NOT NULL;
-- case: domain-drop-not-null
ALTER DOMAIN positive DROP NOT NULL;

-- case: truncate
TRUNCATE orders;
-- case: truncate-cascade
TRUNCATE orders, lines CASCADE;
-- case: truncate-new-table
CREATE TABLE scratch (id int);
TRUNCATE scratch;

-- case: refresh-materialized-view
REFRESH MATERIALIZED VIEW sales_summary;
-- case: refresh-materialized-view-concurrently
REFRESH MATERIALIZED VIEW CONCURRENTLY sales_summary;
-- case: refresh-new-materialized-view
CREATE MATERIALIZED VIEW sales_summary AS SELECT 1 AS n WITH NO DATA;
REFRESH MATERIALIZED VIEW sales_summary;

-- case: vacuum-full (atomic: false)
VACUUM FULL orders;
-- case: vacuum-full-options (atomic: false)
VACUUM (FULL, ANALYZE) orders;
-- case: vacuum (atomic: false)
VACUUM (ANALYZE) orders;
-- case: vacuum-atomic
VACUUM orders;
-- case: analyze
ANALYZE orders;

-- case: cluster
CLUSTER orders USING orders_pkey;
-- case: cluster-new-table
CREATE TABLE fresh (id int PRIMARY KEY);
CLUSTER fresh USING fresh_pkey;

-- case: lock-table
LOCK TABLE orders;
-- case: lock-table-share
LOCK TABLE orders IN SHARE MODE;
-- case: lock-table-row-exclusive
LOCK TABLE orders IN ROW EXCLUSIVE MODE;
-- case: lock-table-outside-transaction (atomic: false)
LOCK TABLE orders IN ACCESS SHARE MODE;
-- case: lock-table-in-begin (atomic: false)
BEGIN;
LOCK TABLE orders IN ACCESS SHARE MODE;
COMMIT;

-- case: set-tablespace
ALTER TABLE orders SET TABLESPACE fast;
-- case: index-set-tablespace
ALTER INDEX orders_pkey SET TABLESPACE fast;
-- case: move-all-tablespace
ALTER TABLE ALL IN TABLESPACE slow SET TABLESPACE fast;

-- case: set-logged
ALTER TABLE orders SET LOGGED;
-- case: set-unlogged
ALTER TABLE orders SET UNLOGGED;
-- case: set-logged-new-table
CREATE UNLOGGED TABLE staging (id int);
ALTER TABLE staging SET LOGGED;

-- case: add-required-field
ALTER TABLE orders ADD COLUMN c int NOT NULL;
-- case: add-required-field-with-default
ALTER TABLE orders ADD COLUMN c int NOT NULL DEFAULT 0;
-- case: add-nullable-field
ALTER TABLE orders ADD COLUMN c int NULL;

-- case: add-column-inline-unique (Django AddField(unique=True))
ALTER TABLE "orders" ADD COLUMN "code" varchar(10) NULL UNIQUE;
-- case: add-column-inline-primary-key
ALTER TABLE orders ADD COLUMN id2 bigint PRIMARY KEY DEFAULT 0;
-- case: add-column-references-no-default (Django OneToOneField, nullable)
ALTER TABLE "orders" ADD COLUMN "invoice_id" integer NULL UNIQUE REFERENCES "invoices" ("id");
-- case: add-column-references-with-default (Django ForeignKey with a default)
ALTER TABLE "orders" ADD COLUMN "shop_id" integer DEFAULT 1 NOT NULL REFERENCES "shops" ("id");
-- case: add-column-references-default-null
ALTER TABLE orders ADD COLUMN shop_id integer DEFAULT NULL REFERENCES shops (id);
-- case: add-column-serial
ALTER TABLE orders ADD COLUMN seq bigserial;
-- case: add-column-identity
ALTER TABLE orders ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
-- case: add-column-generated-stored
ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (price * quantity) STORED;
-- case: add-column-on-new-table
CREATE TABLE fresh (id int);
ALTER TABLE fresh ADD COLUMN code text UNIQUE, ADD COLUMN seq bigserial;

-- case: default-volatile
ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid();
-- case: default-volatile-nested
ALTER TABLE orders ADD COLUMN r int DEFAULT floor(random() * 10);
-- case: default-unknown-function
ALTER TABLE orders ADD COLUMN s text DEFAULT my_slug();
-- case: default-now (Django 5 db_default=Now())
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now() NOT NULL;
-- case: default-current-timestamp
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL;
-- case: default-statement-timestamp
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT statement_timestamp();
-- case: default-stable-expression
ALTER TABLE orders ADD COLUMN due date DEFAULT (now() + interval '7 days')::date;
-- case: default-constant-cast
ALTER TABLE orders ADD COLUMN meta jsonb DEFAULT '{}'::jsonb NOT NULL;

-- case: set-not-null
ALTER TABLE orders ALTER COLUMN c SET NOT NULL;
-- case: column-type
ALTER TABLE orders ALTER COLUMN c TYPE bigint;
-- case: foreign-key
ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);
-- case: foreign-key-not-valid
ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;
-- case: check-constraint
ALTER TABLE orders ADD CONSTRAINT positive CHECK (a > 0);
-- case: unique-constraint
ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a);
-- case: unique-using-index
ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_a_key;
-- case: drop-column-and-table
ALTER TABLE orders DROP COLUMN c;
DROP TABLE old;
-- case: renames
ALTER TABLE orders RENAME COLUMN a TO b;
ALTER TABLE orders RENAME TO o;
-- case: drop-database
DROP DATABASE shop;

-- case: validate-in-same-step
ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT f;
-- case: validate-check-in-same-step
ALTER TABLE orders ADD CONSTRAINT positive CHECK (a > 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT positive;
-- case: validate-alone
ALTER TABLE orders VALIDATE CONSTRAINT f;
-- case: validate-after-commit (atomic: false)
ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT f;
-- case: validate-other-constraint
ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT g;

-- case: update-after-alter
ALTER TABLE orders ADD COLUMN c int;
UPDATE orders SET c = a * 2;
-- case: update-before-alter (Django AlterField null -> not null with a default)
UPDATE orders SET c = 0 WHERE c IS NULL;
ALTER TABLE orders ALTER COLUMN c SET NOT NULL;
-- case: update-other-table
ALTER TABLE orders ADD COLUMN c int;
UPDATE lines SET c = 1;
-- case: update-after-alter-non-atomic (atomic: false)
ALTER TABLE orders ADD COLUMN c int;
UPDATE orders SET c = a * 2;
-- case: update-after-alter-in-begin (atomic: false)
BEGIN;
ALTER TABLE orders ADD COLUMN c int;
UPDATE orders SET c = a * 2;
COMMIT;
-- case: update-new-table
CREATE TABLE fresh (id int, c int);
ALTER TABLE fresh ADD COLUMN d int;
UPDATE fresh SET d = 1;

-- case: begin-in-atomic-step
BEGIN;
ALTER TABLE orders ADD COLUMN c int;
COMMIT;
-- case: begin-never-closed (atomic: false)
BEGIN;
ALTER TABLE orders ADD COLUMN c int;
-- case: begin-commit-non-atomic (atomic: false)
BEGIN;
ALTER TABLE orders ADD COLUMN c int;
COMMIT;
-- case: savepoint-in-atomic-step
SAVEPOINT s;
ALTER TABLE orders ADD COLUMN c int;
RELEASE SAVEPOINT s;

-- case: allow-one-of-two
-- tidemark:allow require-concurrent-index-creation orders is a 10-row lookup table
CREATE INDEX i ON orders (a);
CREATE INDEX j ON lines (a);
-- case: allow-other-rule
-- tidemark:allow ban-drop-table the index is what we mean
CREATE INDEX i ON orders (a);
-- case: allow-unknown-rule
-- tidemark:allow no-such-rule because
CREATE INDEX i ON orders (a);
-- case: allow-without-reason
-- tidemark:allow require-concurrent-index-creation
CREATE INDEX i ON orders (a);

-- case: add-field-with-default-then-drop-default
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
ALTER TABLE "shop_order" ALTER COLUMN "priority" DROP DEFAULT;
-- case: add-nullable-field-with-default-then-drop-default
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NULL;
ALTER TABLE "shop_order" ALTER COLUMN "priority" DROP DEFAULT;
-- case: add-field-with-default-kept
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
-- case: drop-default-of-another-column
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
ALTER TABLE "shop_order" ALTER COLUMN "rank" DROP DEFAULT;
ALTER TABLE "shop_line" ALTER COLUMN "priority" DROP DEFAULT;
-- case: add-field-with-default-then-drop-default-post-deploy (phase: PostDeploy)
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
ALTER TABLE "shop_order" ALTER COLUMN "priority" DROP DEFAULT;
-- case: add-field-with-default-then-drop-default-new-table
CREATE TABLE "shop_order" ("id" bigint NOT NULL PRIMARY KEY);
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
ALTER TABLE "shop_order" ALTER COLUMN "priority" DROP DEFAULT;
-- case: set-default-after-add
ALTER TABLE "shop_order" ADD COLUMN "priority" integer DEFAULT 0 NOT NULL;
ALTER TABLE "shop_order" ALTER COLUMN "priority" SET DEFAULT 1;

-- The plan's schema: a type change is judged against the type earlier steps gave the column.
-- case: varchar-widened-after-create
CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(200);
-- case: varchar-narrowed
CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(50);
-- case: varchar-to-text (Django CharField -> TextField)
CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE text USING "name"::text;
-- case: text-to-varchar-limited (Django TextField -> CharField)
CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY, "name" text NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(100) USING "name"::varchar(100);
-- case: varchar-limit-removed
CREATE TABLE shop.item (id bigint, name character varying(100));
-- next step
ALTER TABLE shop.item ALTER COLUMN name TYPE character varying;
-- case: using-another-expression
CREATE TABLE "shop_item" ("id" bigint NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(200) USING upper("name");
-- case: numeric-precision-widened
CREATE TABLE "shop_item" ("id" bigint, "price" numeric(10, 2) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "price" TYPE numeric(12, 2);
-- case: numeric-scale-changed
CREATE TABLE "shop_item" ("id" bigint, "price" numeric(10, 2) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "price" TYPE numeric(12, 3);
-- case: numeric-narrowed
CREATE TABLE "shop_item" ("id" bigint, "price" numeric(10, 2) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "price" TYPE numeric(8, 2);
-- case: numeric-unconstrained
CREATE TABLE "shop_item" ("id" bigint, "price" numeric(10) NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "price" TYPE numeric;
-- case: integer-to-bigint (Django IntegerField -> BigIntegerField)
CREATE TABLE "shop_item" ("id" bigint, "stock" integer NOT NULL);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "stock" TYPE bigint USING "stock"::bigint;
-- case: timestamp-precision-widened
CREATE TABLE "shop_item" ("id" bigint, "seen" timestamp(3) with time zone);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "seen" TYPE timestamptz(6);
-- case: timestamp-to-timestamptz
CREATE TABLE "shop_item" ("id" bigint, "seen" timestamp);
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "seen" TYPE timestamptz;
-- case: char-widened
CREATE TABLE "shop_item" ("id" bigint, "code" char(3));
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "code" TYPE char(5);
-- case: type-change-unknown-column
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(200);
-- case: column-added-by-earlier-step
CREATE TABLE "shop_item" ("id" bigint);
-- next step
ALTER TABLE "shop_item" ADD COLUMN "name" varchar(20) NULL;
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40);
-- case: column-type-changed-twice
CREATE TABLE "shop_item" ("id" bigint, "name" varchar(20));
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40);
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(30);
-- case: column-renamed-then-widened
CREATE TABLE "shop_item" ("id" bigint, "title" varchar(20));
-- next step
ALTER TABLE "shop_item" RENAME COLUMN "title" TO "name";
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40);
-- case: table-renamed-then-widened
CREATE TABLE "shop_item" ("id" bigint, "name" varchar(20));
-- next step
ALTER TABLE "shop_item" RENAME TO "shop_product";
ALTER TABLE "shop_product" ALTER COLUMN "name" TYPE varchar(40);
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40);
-- case: table-dropped-and-recreated-elsewhere
CREATE TABLE "shop_item" ("id" bigint, "name" varchar(20));
-- next step
DROP TABLE "shop_item";
CREATE TABLE other.shop_item ("id" bigint, "name" varchar(10));
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40);
ALTER TABLE other.shop_item ALTER COLUMN "name" TYPE varchar(40);
-- case: schema-qualified-same-table
CREATE TABLE "shop_item" ("id" bigint, "name" varchar(20));
-- next step
ALTER TABLE public.shop_item ALTER COLUMN "name" TYPE varchar(40);
-- case: collation-changed
CREATE TABLE "shop_item" ("id" bigint, "name" varchar(20));
-- next step
ALTER TABLE "shop_item" ALTER COLUMN "name" TYPE varchar(40) COLLATE "C";

-- Server versions: verdicts that depend on what the server has.
-- case: add-column-stable-default-pg10 (pg: 10)
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now() NOT NULL;
-- case: add-column-stable-default-pg11 (pg: 11)
ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now() NOT NULL;
-- case: add-column-constant-default-pg10 (pg: 10)
ALTER TABLE orders ADD COLUMN priority integer DEFAULT 0;
-- case: add-column-volatile-default-pg10 (pg: 10)
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
-- case: reindex-pg11 (pg: 11)
REINDEX INDEX orders_a_idx;
-- case: reindex-concurrently-pg11 (atomic: false) (pg: 11)
REINDEX INDEX CONCURRENTLY orders_a_idx;
-- case: reindex-concurrently-pg12 (atomic: false) (pg: 12)
REINDEX INDEX CONCURRENTLY orders_a_idx;
-- case: detach-partition-pg13 (pg: 13)
ALTER TABLE measurements DETACH PARTITION measurements_2020;
-- case: detach-partition-concurrently-pg13 (atomic: false) (pg: 13)
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
-- case: detach-partition-concurrently-pg14 (atomic: false) (pg: 14)
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
-- case: add-column-inline-check (Django PositiveIntegerField)
ALTER TABLE "library_book" ADD COLUMN "pages" integer DEFAULT 0 NOT NULL CHECK ("pages" >= 0);
-- case: add-column-inline-check-new-table
CREATE TABLE "library_book" ("id" serial NOT NULL PRIMARY KEY);
ALTER TABLE "library_book" ADD COLUMN "pages" integer DEFAULT 0 NOT NULL CHECK ("pages" >= 0);
-- case: set-not-null-after-validated-check
ALTER TABLE "stock_item" ADD CONSTRAINT "code_not_null" CHECK ("code" IS NOT NULL) NOT VALID;
-- next step
ALTER TABLE "stock_item" VALIDATE CONSTRAINT "code_not_null";
-- next step
ALTER TABLE "stock_item" ALTER COLUMN "code" SET NOT NULL;
ALTER TABLE "stock_item" ALTER COLUMN "name" SET NOT NULL;
-- case: set-not-null-after-validated-check-pg11 (pg: 11)
ALTER TABLE "stock_item" ADD CONSTRAINT "code_not_null" CHECK ("code" IS NOT NULL) NOT VALID;
-- next step
ALTER TABLE "stock_item" VALIDATE CONSTRAINT "code_not_null";
-- next step
ALTER TABLE "stock_item" ALTER COLUMN "code" SET NOT NULL;
-- case: set-not-null-after-unvalidated-check
ALTER TABLE "stock_item" ADD CONSTRAINT "code_not_null" CHECK ("code" IS NOT NULL) NOT VALID;
-- next step
ALTER TABLE "stock_item" ALTER COLUMN "code" SET NOT NULL;
-- case: set-not-null-after-other-check-validated
ALTER TABLE "stock_item" ADD CONSTRAINT "code_positive" CHECK ("code" > '') NOT VALID;
-- next step
ALTER TABLE "stock_item" VALIDATE CONSTRAINT "code_positive";
-- next step
ALTER TABLE "stock_item" ALTER COLUMN "code" SET NOT NULL;
