-- canvasApi as one Canvas SIS import with diffing: every course
-- enrollment the SIS wants in Canvas, whole (not a difference), for
-- conduit-fmt -t canvas and lms-push canvas sis-import FILE
-- --diffing-data-set ID, where Canvas compares it with the last import of
-- the same identifier and drops what is gone (--diffing-drop-status).
-- sis_canvas_enrollments as in canvas-api-enrollments.sql.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$REPORTING_DB" --query canvas-api-sis-enrollments.sql
SELECT
    s.course_id AS course,
    s.user_id AS "user",
    s.role AS role,
    s.section_id AS lms_section
FROM sis_canvas_enrollments s
ORDER BY s.course_id, s.user_id, s.role
