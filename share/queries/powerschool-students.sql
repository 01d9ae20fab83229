-- The students enrolled now (enroll_status 0) in one PowerSchool school,
-- with the columns of the Clever students.csv (clever-sections with
-- CLEVER_FILES naming students, and the students of its OneRoster
-- package).  Student_id is students.id, the id the cc table (the
-- enrollments) names them by.
--
-- PowerSchool has no one standard column for a student e-mail address:
-- districts keep it in a custom field or a contact table.  students.email
-- here stands in for it: edit this line (or copy this file and set
-- CLEVER_STUDENTS_QUERY) to read your district one.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-students.sql \
--       --param school=10
SELECT
    st.schoolid AS school_id,
    st.id AS student_id,
    st.student_number,
    st.state_studentnumber AS state_id,
    st.last_name,
    st.middle_name,
    st.first_name,
    st.grade_level AS grade,
    st.gender,
    st.dob,
    st.email AS student_email
FROM students st
INNER JOIN schools sc ON sc.school_number = st.schoolid
WHERE st.schoolid = :school
  AND st.enroll_status = 0
  AND sc.state_excludefromreporting = 0
ORDER BY st.id
