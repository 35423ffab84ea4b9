REINDEX TABLE shop.orders;
