-- udw-sis-ids.sql: the SIS ids of Canvas users and sections from a Canvas
-- Data warehouse (the Unizin Data Warehouse the course-inventory seed
-- read), for scripts/canvas-inventory's WAREHOUSE_DB.  One row per user
-- login (user_dim joined to pseudonym_dim: sis_user_id, unique_name) and
-- per section (course_section_dim.sis_source_id), keyed by the Canvas id.
-- SIS ids stay text: the seed cast them to integers and lost the others.
-- Plain SQL for any backend sis-extract reads (PostgreSQL, SQL Server,
-- MySQL, SQLite, ODBC).
SELECT 'user' AS kind, u.canvas_id AS canvas_id, p.sis_user_id AS sis_id,
	p.unique_name AS uniqname, p.id AS pseudonym_id
FROM user_dim u
JOIN pseudonym_dim p ON p.user_id = u.id
UNION ALL
SELECT 'section' AS kind, cs.canvas_id AS canvas_id,
	cs.sis_source_id AS sis_id, NULL AS uniqname, NULL AS pseudonym_id
FROM course_section_dim cs
ORDER BY kind, canvas_id, pseudonym_id
