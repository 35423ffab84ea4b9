TRUNCATE orders, lines CASCADE;
