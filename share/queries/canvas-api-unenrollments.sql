-- canvasApi unenrollments: the active course enrollments Canvas holds
-- that the SIS no longer wants, as lms-push canvas change records (op
-- drop; how, by lms-push --drop-policy).
--
-- Only enrollments the SIS made (cnv_enrollments.created_by_sis true) are
-- dropped: one a teacher or an admin added by hand is never touched.
-- Compared on course, user and role: a drop ends the role in every
-- section of the course.  Tables as in canvas-api-enrollments.sql.
-- lms-push refuses more drops than --max-drop-count (exit 3, nothing
-- applied): an empty sis_canvas_enrollments never ends everyone.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$REPORTING_DB" --query canvas-api-unenrollments.sql
SELECT DISTINCT
    'drop' AS op,
    c.course_id AS course,
    c.user_id AS "user",
    c.role AS role
FROM cnv_enrollments c
WHERE c.status = 'active'
  AND c.created_by_sis = 'true'
  AND c.course_id IS NOT NULL
  AND c.user_id IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM sis_canvas_enrollments s
    WHERE s.course_id = c.course_id
      AND s.user_id = c.user_id
      AND s.role = c.role)
ORDER BY c.course_id, c.user_id, c.role
