-- canvasApi enrollments: the course enrollments the SIS wants that
-- Canvas does not hold active, as lms-push canvas change records (op add).
--
-- sis_canvas_enrollments is the site's replicated table of what the SIS
-- wants in Canvas (course_id, user_id, role, section_id: the SIS ids of
-- the Canvas course, user and section, and the Canvas role name), loaded
-- by replicate.  cnv_enrollments is Canvas's provisioning report
-- (replicate --provisions), with the same columns and status.  A section
-- is sent when the SIS names one (lms_section): else the course.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$REPORTING_DB" --query canvas-api-enrollments.sql
SELECT
    'add' AS op,
    s.course_id AS course,
    s.user_id AS "user",
    s.role AS role,
    s.section_id AS lms_section
FROM sis_canvas_enrollments s
WHERE NOT EXISTS (
    SELECT 1 FROM cnv_enrollments c
    WHERE c.course_id = s.course_id
      AND c.user_id = s.user_id
      AND c.role = s.role
      AND c.status = 'active')
ORDER BY s.course_id, s.user_id, s.role
