-- tidemark:allow adding-exclusion-constraint bookings holds 40 rows, checked 2026-11-30
ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);
