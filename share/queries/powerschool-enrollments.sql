-- The students of the sections of one PowerSchool school and term, the
-- rows of the Clever enrollments.csv (clever-sections with CLEVER_FILES
-- naming enrollments, and the student enrollments of its OneRoster
-- package).  PowerSchool keeps them in cc: a dropped student row names
-- the section negated (-sectionid), so the join on the section id leaves
-- drops out.  Students no longer enrolled (enroll_status not 0) are left
-- out too: students.csv does not list them.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-enrollments.sql \
--       --param school=10 --param term=3501
SELECT DISTINCT
    s.schoolid AS school_id,
    s.id AS section_id,
    cc.studentid AS student_id
FROM cc
INNER JOIN sections s ON s.id = cc.sectionid
INNER JOIN schools sc ON sc.school_number = s.schoolid
INNER JOIN students st ON st.id = cc.studentid
WHERE s.schoolid = :school
  AND s.termid = :term
  AND st.enroll_status = 0
  AND sc.state_excludefromreporting = 0
ORDER BY s.id, cc.studentid
