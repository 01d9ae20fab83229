-- course-inventory schema, version 4 (SQLite): the user's uniqname (the
-- warehouse's pseudonym_dim.unique_name, as the seed stored it), filled
-- when canvas-inventory joins a warehouse (WAREHOUSE_DB).
ALTER TABLE "user" ADD COLUMN uniqname VARCHAR(255) NULL;
