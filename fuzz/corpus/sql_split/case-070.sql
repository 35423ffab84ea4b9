ALTER TABLE orders ADD COLUMN due date DEFAULT (now() + interval '7 days')::date;
