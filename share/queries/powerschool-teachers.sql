-- The teachers of the sections of one PowerSchool school and term, one
-- row per teacher, with the columns of the Clever teachers.csv
-- (clever-sections with CLEVER_FILES naming teachers, and the teachers
-- of its OneRoster package).  Teacher_id is users_dcid, as in
-- sections.csv, the same in every school: a teacher of several schools
-- comes back once from each, and Clever takes one row per school.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-teachers.sql \
--       --param school=10 --param term=3501
SELECT DISTINCT
    s.schoolid AS school_id,
    te.users_dcid AS teacher_id,
    te.teachernumber AS teacher_number,
    te.sif_stateprid AS state_teacher_id,
    te.email_addr AS teacher_email,
    te.first_name,
    te.middle_name,
    te.last_name,
    te.title
FROM sections s
INNER JOIN schools sc ON sc.school_number = s.schoolid
INNER JOIN sectionteacher st ON st.sectionid = s.id
INNER JOIN teachers te ON te.id = st.teacherid
WHERE s.schoolid = :school
  AND s.termid = :term
  AND sc.state_excludefromreporting = 0
ORDER BY te.users_dcid
