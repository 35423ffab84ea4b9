REINDEX INDEX orders_a_idx;
